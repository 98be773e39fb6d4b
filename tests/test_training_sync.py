"""The loop's records are made every ``log_every`` steps (one GPU sync for all of them) with the
values a record made every step has; cuDNN autotuning on GPUs unless determinism was asked for;
DataLoader workers kept across epochs."""
import os

import pytest
import torch

from svl_lib.config import ExperimentConfig
from svl_lib.data.loading import CaptionDataset
from svl_lib.data.toy import ToyWorld
from svl_lib.models import build_model
from svl_lib.train.objectives import Objective
from svl_lib.train.devices import tune_cudnn
from svl_lib.train.loop import TrainSettings, train


def _history(log_every: int, tmp_path) -> tuple[list[dict], list[int]]:
    """The history of a seeded tiny run (2 epochs of 6 steps, a state every 4 steps) and, for
    each record, how many steps had finished when ``on_step`` received it."""
    corpus = ToyWorld(40, 4, 8, seed=0).split("train")
    torch.manual_seed(0)
    model = build_model(ExperimentConfig(n_train=40, n_val=4, n_test=8, embed_dim=16), corpus)
    objective, finished, seen = Objective(), [0], []
    objective.after_step = lambda: finished.__setitem__(0, finished[0] + 1)
    settings = TrainSettings(epochs=2, batch_size=32, lr=1e-3, checkpoint_every=4, log_every=log_every)
    history = train(model, CaptionDataset(corpus), settings, objective=objective, progress=False,
                    on_step=lambda record: seen.append(finished[0]),
                    state_path=tmp_path / f"state{log_every}.pt")
    return history, seen


@pytest.mark.slow
def test_records_every_n_steps_equal_records_every_step(tmp_path) -> None:
    every_step, seen_1 = _history(1, tmp_path)
    every_5, seen_5 = _history(5, tmp_path)
    assert every_5 == every_step and [r["step"] for r in every_5] == list(range(12))
    assert seen_1 == list(range(1, 13))
    # made after steps 4 (a state is saved), 5, 6 (epoch end), 8 (state), 10, 12 (epoch end)
    assert seen_5 == [4] * 4 + [5, 6, 8, 8, 10, 10, 12, 12]


def test_cudnn_autotuning_on_gpus_only_and_not_under_deterministic_algorithms() -> None:
    saved = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = False
        tune_cudnn(torch.device("cpu"))
        assert not torch.backends.cudnn.benchmark
        torch.use_deterministic_algorithms(True)
        tune_cudnn(torch.device("cuda"))
        assert not torch.backends.cudnn.benchmark
        torch.use_deterministic_algorithms(False)
        tune_cudnn(torch.device("cuda"))
        assert torch.backends.cudnn.benchmark
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = saved


class LoggedDataset(CaptionDataset):
    """Writes ``epoch pid`` for every item it loads to the file ``log``."""

    log = None

    def __getitem__(self, n):
        epoch = n[0] if isinstance(n, tuple) else self.epoch
        with open(self.log, "a") as f:
            f.write(f"{epoch} {os.getpid()}\n")
        return super().__getitem__(n)


def _worker_run(workers: int, log) -> list[dict]:
    corpus = ToyWorld(40, 4, 8, seed=0).split("train")
    torch.manual_seed(0)
    model = build_model(ExperimentConfig(n_train=40, n_val=4, n_test=8, embed_dim=16), corpus)
    dataset = LoggedDataset(corpus)
    dataset.log = log
    settings = TrainSettings(epochs=2, batch_size=32, lr=1e-3, num_workers=workers)
    return train(model, dataset, settings, progress=False)


@pytest.mark.slow
def test_persistent_workers_load_every_epoch_and_change_no_result(tmp_path) -> None:
    in_process = _worker_run(0, tmp_path / "main.log")
    in_worker = _worker_run(1, tmp_path / "worker.log")
    assert in_worker == in_process
    seen = [line.split() for line in (tmp_path / "worker.log").read_text().splitlines()]
    assert {epoch for epoch, _ in seen} == {"0", "1"}  # the worker got each item's epoch
    assert len({pid for _, pid in seen}) == 1 and seen[0][1] != str(os.getpid())  # one worker, kept

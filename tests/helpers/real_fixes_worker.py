"""Two-process checks of the real-data path, run under ``torchrun --nproc_per_node 2``. Each
process writes ``rank<r>.json`` into the out dir. Arguments: a mode, then its own.

* ``reduce DEVICE OUT``: joins a gloo group that serves ``DEVICE``'s type only (``cpu:gloo`` or
  ``cuda:gloo``; the latter is NCCL's rule: no CPU tensors), then runs the constrained LTD
  objective's step on features on ``DEVICE`` and averages a value over the processes.
* ``triplet DATA_ROOT OUT``: trains the tiny VSE++ with the triplet loss for one epoch.
* ``targets USE_FILE OUT``: LTD's targets for one list of captions (:func:`svl_lib.train.objectives.shared_targets`),
  with a fake encoder that records which process loads it.
* ``run RUN_FOLDER OUT``: a toy run through the command line's ``main``, recording the world size
  it trained with and whether a process group is left after it.
"""
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from svl_lib.distributed import mean_over_processes, rank_and_world
from svl_lib.outputs import ModelOutput


def reduce(device_name: str, out: Path) -> None:
    from svl_lib.losses import InfoNCE
    from svl_lib.ltd import TargetCache, TargetDecoder
    from svl_lib.train.objectives import LTDObjective

    device = torch.device(device_name)
    dist.init_process_group(f"{device.type}:gloo")
    rank, world = rank_and_world()
    if device.type == "cuda":
        device = torch.device("cuda", rank % torch.cuda.device_count())
    torch.manual_seed(rank)
    features = F.normalize(torch.randn(4, 8, device=device), dim=-1)
    cache = TargetCache("fake", lambda texts: torch.ones(len(texts), 3))
    objective = LTDObjective(InfoNCE(), cache, TargetDecoder(8, 3, hidden=16), "constrained").to(device)
    objective(ModelOutput(features, features, torch.tensor(10.0, device=device)), ["a", "b", "c", "d"])
    objective.after_step()
    value = torch.tensor(rank + 1.0, device=device)
    mean = mean_over_processes(value)
    write(out, rank, {"world": world, "mean": float(mean), "kept": value.item(),
                      "lambda": float(objective.multiplier.value)})


def triplet(root: str, out: Path) -> None:
    from svl_lib.config import ExperimentConfig
    from svl_lib.data.loading import CaptionDataset
    from svl_lib.distributed import setup
    from svl_lib.experiments.registries import resolve
    from svl_lib.experiments.run_data import build_data
    from svl_lib.models import build_model
    from svl_lib.train.objectives import build_objective
    from svl_lib.train.devices import seed_everything
    from svl_lib.train.loop import TrainSettings, train

    setup(cpu=True)
    rank, world = rank_and_world()
    config = resolve(ExperimentConfig(dataset="coco", data_root=root, model="vse", arch="tiny", embed_dim=32,
                                      loss="triplet", epochs=1, batch_size=16, lr=1e-3, warmup_steps=1,
                                      shortcut_mode="unique", probes=False, device="cpu"))
    data = build_data(config)
    seed_everything(config.seed)
    model = build_model(config, data.train)
    dataset = CaptionDataset(data.train, data.train_injector, *model.image_transform(train=True))
    losses: list[float] = []
    train(model, dataset, TrainSettings(1, config.batch_size, config.lr, warmup_steps=1),
          build_objective(config, dataset), on_step=lambda record: losses.append(record["loss"]),
          progress=False)
    write(out, rank, {"world": world, "losses": losses})


def run(folder: str, out: Path) -> None:
    import os

    import svl_lib.experiments.experiment as experiment
    from svl_lib.experiments.run import main

    worlds, train_run = [], experiment.train_run

    def recorded(*args, **kwargs):
        worlds.append(rank_and_world()[1])
        return train_run(*args, **kwargs)
    experiment.train_run = recorded
    main([folder, "--set", "n_train=32", "n_val=4", "n_test=8", "embed_dim=16", "epochs=1",
          "batch_size=16", "probes=False", "device='cpu'"])
    write(out, int(os.environ["RANK"]), {"worlds": worlds, "group_after": dist.is_initialized()})


def targets(use_file: str, out: Path) -> None:
    import svl_lib.ltd as ltd
    from svl_lib.train.objectives import shared_targets

    dist.init_process_group("cpu:gloo")
    loads = []

    def fake_encoder(name, device="cpu"):
        loads.append(str(device))
        return lambda texts: torch.tensor([[len(t), t.count("e"), rank_and_world()[0]] for t in texts],
                                          dtype=torch.float32)
    ltd.load_sentence_encoder = fake_encoder
    texts = ["a red circle", "a blue square that is hollow", "a green star"]
    cache = shared_targets("fake-encoder", texts, use_file == "True", progress=False)
    write(out, rank_and_world()[0], {"loads": loads, "targets": cache.lookup(texts).tolist()})


def write(out: Path, rank: int, record: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rank{rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    mode, argument, out_dir = sys.argv[1:4]
    {"reduce": reduce, "triplet": triplet, "targets": targets, "run": run}[mode](argument, Path(out_dir))
    if dist.is_initialized():
        dist.destroy_process_group()  # joins gloo's threads: no abort at exit

"""The training loop: the logged learning rate, the logit-scale clamp, and training states that
resume on any device."""
import math

import pytest
import torch

from svl_lib.data.loading import CaptionDataset
from svl_lib.data.toy import ToyWorld
from svl_lib.losses import info_nce
from svl_lib.models import build_model
from svl_lib.config import ExperimentConfig
from svl_lib.models.base import MAX_LOGIT_SCALE
from svl_lib.train.state import load_train_state, restore_rng, save_train_state
from svl_lib.train.schedules import warmup_cosine
from svl_lib.train.loop import TrainSettings, train

CONFIG = ExperimentConfig(n_train=40, n_val=4, n_test=8, embed_dim=16)


def _model_and_data():
    corpus = ToyWorld(40, 4, 8).split("train")
    return build_model(CONFIG, corpus), CaptionDataset(corpus)


def test_history_logs_the_learning_rate_each_step_used() -> None:
    model, dataset = _model_and_data()
    settings = TrainSettings(epochs=1, batch_size=50, lr=1.0, warmup_steps=4)
    history = train(model, dataset, settings, progress=False)
    total = len(history)
    assert [h["lr"] for h in history] == pytest.approx(
        [warmup_cosine(s, 4, total) for s in range(total)])
    assert history[0]["lr"] == pytest.approx(0.25)  # step 0 uses (0 + 1) / 4 of the rate


def test_logit_scale_has_a_gradient_at_the_bound_and_is_clamped_after_the_step() -> None:
    model, dataset = _model_and_data()
    with torch.no_grad():
        model.log_scale.fill_(math.log(MAX_LOGIT_SCALE) + 1e-3)  # just above CLIP's bound
    images, captions = torch.stack([dataset[n][0] for n in range(8)]), [dataset[n][1] for n in range(8)]
    out = model(images, model.tokenize(captions))
    image_f, text_f, scale = out.image_features, out.text_features, out.logit_scale
    info_nce(image_f, text_f, scale).backward()
    assert model.log_scale.grad is not None and model.log_scale.grad.abs() > 0
    model.after_step()
    assert model.log_scale.item() == pytest.approx(math.log(MAX_LOGIT_SCALE), abs=1e-6)


def test_training_never_leaves_the_scale_above_the_bound() -> None:
    model, dataset = _model_and_data()
    with torch.no_grad():
        model.log_scale.fill_(math.log(MAX_LOGIT_SCALE) - 1e-4)
    history = train(model, dataset, TrainSettings(epochs=3, batch_size=50, lr=0.5, warmup_steps=1),
                    progress=False)
    assert max(h["logit_scale"] for h in history) <= MAX_LOGIT_SCALE * (1 + 1e-5)
    assert model.log_scale.item() <= math.log(MAX_LOGIT_SCALE) + 1e-6


class FakeGPUs:
    """``count`` visible CUDA devices, each with its own RNG state, the process on ``current``:
    torch.cuda's RNG functions (and those torch.cuda.random calls inside its ``*_all`` ones)
    replaced; a device index beyond the count raises ``IndexError`` as torch's generators do."""

    def __init__(self, monkeypatch, count: int, current: int = 0) -> None:
        self.states = [torch.full((16,), n, dtype=torch.uint8) for n in range(count)]
        self.current = current
        for module in (torch.cuda, torch.cuda.random):
            monkeypatch.setattr(module, "device_count", lambda: len(self.states))
            monkeypatch.setattr(module, "get_rng_state", self.get)
            monkeypatch.setattr(module, "set_rng_state", self.set)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: self.current)

    def index(self, device: int | str | torch.device) -> int:
        index = device if isinstance(device, int) else torch.device(device).index
        return self.current if index is None else index

    def get(self, device: int | str | torch.device = "cuda") -> torch.Tensor:
        return self.states[self.index(device)].clone()

    def set(self, state: torch.Tensor, device: int | str | torch.device = "cuda") -> None:
        self.states[self.index(device)] = state.clone()  # IndexError beyond the visible GPUs


@pytest.mark.parametrize("saved_on, resumed_on", [(8, 1), (1, 8)])
def test_a_state_saved_on_some_gpus_resumes_on_another_count(tmp_path, monkeypatch, saved_on,
                                                             resumed_on) -> None:
    """The state holds the current device's CUDA RNG state only: an 8-GPU run resumes on one GPU
    (a Colab) and a one-GPU run on 8, each process's device getting the saved state; the CPU's RNG
    state comes back as a CPU byte tensor (what ``torch.set_rng_state`` accepts)."""
    saving = FakeGPUs(monkeypatch, saved_on, current=saved_on - 1)
    path = tmp_path / "train_state.pt"
    save_train_state(path, epoch=3, model={"w": torch.ones(2)})
    before = torch.get_rng_state()
    torch.rand(5)  # move the CPU generator on
    resuming = FakeGPUs(monkeypatch, resumed_on, current=resumed_on - 1)
    state = load_train_state(path)
    assert state["torch_rng"].device.type == "cpu" and state["torch_rng"].dtype == torch.uint8
    restore_rng(state)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(resuming.states[-1], saving.states[-1])  # the device trained on
    assert [int(s[0]) for s in resuming.states[:-1]] == list(range(resumed_on - 1))  # others as they were


def test_a_state_of_the_earlier_layout_resumes_with_fewer_gpus(tmp_path, monkeypatch) -> None:
    """States saved before held every visible GPU's RNG state: the current device's is restored."""
    path = tmp_path / "train_state.pt"
    every = [torch.full((16,), 10 + n, dtype=torch.uint8) for n in range(8)]
    torch.save({"torch_rng": torch.get_rng_state(), "cuda_rng": every, "step": 4}, path)
    resuming = FakeGPUs(monkeypatch, 1)
    restore_rng(load_train_state(path))
    assert torch.equal(resuming.states[0], every[0])


def test_epoch_batches_are_the_dataloaders_batches_epoch_after_epoch() -> None:
    from torch.utils.data import DataLoader

    from svl_lib.data.loading import epoch_batches
    loader = DataLoader(range(50), batch_size=8, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(3)
    for _ in range(3):
        assert [b.tolist() for b in loader] == epoch_batches(50, 8, generator)


def test_a_truncated_newest_state_falls_back_to_the_previous_one(tmp_path) -> None:
    from svl_lib.train.state import latest_train_state, previous_state
    path = tmp_path / "train_state.pt"
    assert latest_train_state(path) is None
    save_train_state(path, step=3)
    save_train_state(path, step=6)
    assert previous_state(path).is_file() and latest_train_state(path)["step"] == 6
    path.write_bytes(path.read_bytes()[:100])  # cut off while writing
    assert latest_train_state(path)["step"] == 3

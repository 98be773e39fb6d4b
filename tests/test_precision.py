"""The training's precision on a GPU: ``precision="bf16"`` (the course's default: bf16 autocast and
channels-last) or ``"fp32"`` (the paper's: neither), checked on a faked CUDA device; the config
field and the GPU acceptance run's fp32 loop row."""
import contextlib
import sys
from pathlib import Path

import pytest
import torch

from svl_lib.train import loop as training
from svl_lib.config import ExperimentConfig
from svl_lib.data.loading import CaptionDataset
from svl_lib.data.toy import ToyWorld
from svl_lib.train.devices import autocast, memory_format
from svl_lib.models import build_model
from svl_lib.experiments.registries import resolve

GPU = torch.device("cuda")  # a device value only: nothing runs on it


@pytest.fixture
def autocasts(monkeypatch) -> list[tuple[str, torch.dtype]]:
    """The autocast contexts entered, as ``(device type, dtype)`` (``torch.autocast`` recorded)."""
    entered: list[tuple[str, torch.dtype]] = []

    def record(device_type: str, dtype: torch.dtype) -> contextlib.AbstractContextManager:
        entered.append((device_type, dtype))
        return contextlib.nullcontext()
    monkeypatch.setattr(torch, "autocast", record)
    return entered


def test_fp32_enters_no_autocast_on_a_gpu_and_bf16_does(autocasts) -> None:
    with autocast(GPU, "fp32"):
        assert autocasts == []
    with autocast(torch.device("cpu"), "bf16"):
        assert autocasts == []  # a CPU always runs fp32
    with autocast(GPU, "bf16"):
        assert autocasts == [("cuda", torch.bfloat16)]
    assert memory_format(GPU, "bf16") == torch.channels_last
    assert memory_format(GPU, "fp32") == memory_format(torch.device("cpu"), "bf16") == torch.preserve_format
    with pytest.raises(ValueError, match=r"precision must be one of \('bf16', 'fp32'\), got 'fp16'"):
        autocast(GPU, "fp16")


def test_the_training_loop_uses_the_run_s_precision(monkeypatch) -> None:
    """The config's precision reaches the loop's autocast and memory layout at every step."""
    asked: list[tuple[str, str]] = []

    def on_a_gpu(function):  # the real decision for a GPU, recorded; the CPU's context and layout
        def ask(device: torch.device, precision: str):
            asked.append((function.__name__, precision))
            function(GPU, precision)
            return function(device, precision)
        return ask
    monkeypatch.setattr(training, "autocast", on_a_gpu(autocast))
    monkeypatch.setattr(training, "memory_format", on_a_gpu(memory_format))
    config = ExperimentConfig(n_train=16, n_val=4, n_test=4, embed_dim=8, precision="fp32")
    settings = training.TrainSettings.from_config(config.replace(epochs=1, batch_size=40))
    assert settings.precision == "fp32"
    corpus = ToyWorld(16, 4, 4).split("train")
    training.train(build_model(config, corpus), CaptionDataset(corpus), settings, progress=False)
    assert asked == [("memory_format", "fp32")] + [("autocast", "fp32")] * 2  # 80 items: 2 steps


def test_precision_is_a_checked_config_field_that_keeps_existing_keys() -> None:
    assert ExperimentConfig().precision == "bf16"  # the course's default
    assert resolve(ExperimentConfig()).key() == "52a813b7"  # unchanged (test_run_folders pins it)
    assert resolve(ExperimentConfig(precision="fp32")).key() != "52a813b7"
    with pytest.raises(ValueError, match=r"precision must be one of \('bf16', 'fp32'\)"):
        ExperimentConfig(precision="fp16")


def test_the_fp32_loop_row_of_the_acceptance_run_keeps_no_channels_last() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from gpu_acceptance import loop_config

    clip = ExperimentConfig(dataset="coco", model="clip", arch="tiny", epochs=3)
    fp32, bf16 = loop_config(clip, bf16=False), loop_config(clip, bf16=True)
    assert fp32 == clip.replace(epochs=1, precision="fp32") and bf16 == clip
    assert memory_format(GPU, fp32.precision) == torch.preserve_format
    assert memory_format(GPU, bf16.precision) == torch.channels_last

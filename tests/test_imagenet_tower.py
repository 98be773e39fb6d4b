"""The toy model's ImageNet-pretrained tower: EfficientNet-Lite0 from the packaged weights file."""
from __future__ import annotations

import json

import pytest
import torch

from svl_lib.config import ExperimentConfig
from svl_lib.experiments.experiment import run_experiment
from svl_lib.models.imagenet import EfficientNetTower, load_matching, packaged_weights
from svl_lib.experiments.registries import resolve

timm = pytest.importorskip("timm")


def test_packaged_weights_load_with_every_tensor_checked() -> None:
    path = packaged_weights()
    source = torch.load(path, map_location="cpu", weights_only=True)
    tower = EfficientNetTower(16, "imagenet")
    assert tower.weights == f"{path.name} (247 tensors checked)"
    state = tower.state_dict()
    assert torch.equal(state["frozen.0.weight"], source["_conv_stem.weight"])  # the stem
    assert torch.equal(state["trained.7.weight"], source["_conv_head.weight"])  # the last conv
    assert torch.equal(state["trained.8.running_var"], source["_bn1.running_var"])
    assert not torch.equal(EfficientNetTower(16).state_dict()["frozen.0.weight"], source["_conv_stem.weight"])


def test_a_file_of_another_network_is_refused(tmp_path) -> None:
    source = torch.load(packaged_weights(), map_location="cpu", weights_only=True)
    net = timm.create_model("efficientnet_lite0", pretrained=False)
    names = list(source)  # below: two neighbouring tensors in the wrong order
    i = names.index("_blocks.1._depthwise_conv.weight")
    swapped = {n: source[names[i + 1]] if n == names[i] else source[names[i]] if n == names[i + 1]
               else v for n, v in source.items()}
    torch.save(swapped, tmp_path / "swapped.pth")
    with pytest.raises(ValueError, match="does not match"):
        load_matching(net, tmp_path / "swapped.pth")
    torch.save(dict(list(source.items())[:-2]), tmp_path / "short.pth")
    with pytest.raises(ValueError, match="holds 294 tensors"):
        load_matching(net, tmp_path / "short.pth")
    with pytest.raises(FileNotFoundError, match="neither 'imagenet'"):
        EfficientNetTower(16, str(tmp_path / "missing.pth"))


def test_frozen_stages_stay_fixed_and_the_rest_trains() -> None:
    tower = EfficientNetTower(8, "imagenet", frozen_stages=3).train()
    before = {k: v.clone() for k, v in tower.state_dict().items()}
    optimiser = torch.optim.SGD([p for p in tower.parameters() if p.requires_grad], lr=0.1)
    tower(torch.rand(4, 3, 64, 64)).sum().backward()
    optimiser.step()
    after = tower.state_dict()
    frozen = [k for k in after if k.startswith("frozen.")]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)  # weights and BN statistics
    assert not torch.equal(before["trained.4.weight"], after["trained.4.weight"])
    assert not torch.equal(before["head.weight"], after["head.weight"])


@pytest.mark.parametrize("fields, message", [
    (dict(arch="resnet18"), "arch must be one of"),
    (dict(pretrained="imagenet"), "need a pretrained tower"),
    (dict(arch="efficientnet_lite0", frozen_stages=8), r"frozen_stages must be in \[0, 7\]"),
    (dict(arch="efficientnet_lite0", image_size=24), "needs image_size >= 32"),
])
def test_toy_tower_fields_are_checked(fields, message) -> None:
    with pytest.raises(ValueError, match=message):
        resolve(ExperimentConfig(**fields))


@pytest.mark.slow
def test_a_run_with_the_pretrained_tower_names_its_weights(tmp_path) -> None:
    config = ExperimentConfig(arch="efficientnet_lite0", pretrained="imagenet", frozen_stages=3,
                              image_size=32, n_train=128, n_val=8, n_test=32, epochs=1,
                              batch_size=64, warmup_steps=1)
    metrics = run_experiment(config, tmp_path / "run")
    assert metrics["image_weights"] == f"{packaged_weights().name} (247 tensors checked)"
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["image_weights"] == metrics["image_weights"]
    tuned = run_experiment(config.replace(init_from="run", shortcut_mode="unique"), tmp_path / "tuned")
    assert tuned["image_weights"] == metrics["image_weights"]  # carried through the checkpoint

"""open_clip SigLIP models through the CLIP builder: a timm image tower (no ``output_dim``), the
width from open_clip's config, the learnable logit bias on the wrapper, random init offline, and
open_clip's squash resize of SigLIP's images."""
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision import transforms

from svl_lib.config import ExperimentConfig
from svl_lib.data.toy import ToyWorld
from svl_lib.experiments.checkpoints import load_model
from svl_lib.files import save_torch
from svl_lib.models import build_model

SMALL_SIGLIP = "svl-test-sigmoid-vit"  # no "siglip" in the name: open_clip would fetch its tokenizer
SMALL_SIGLIP_CONFIG = {  # ViT-B-16-SigLIP's layout at a tiny size: timm tower, custom text, bias
    "embed_dim": 192, "init_logit_bias": -10, "custom_text": True,
    "vision_cfg": {"image_size": 224, "timm_model_name": "vit_tiny_patch16_224",
                   "timm_model_pretrained": False, "timm_pool": "map", "timm_proj": "none"},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1,
                 "no_causal_mask": True, "proj_bias": True, "pool_type": "last"}}


def clip_config(arch: str) -> ExperimentConfig:
    return ExperimentConfig(dataset="coco", model="clip", arch=arch)


@pytest.fixture
def small_siglip(monkeypatch) -> str:
    """``SMALL_SIGLIP`` registered with open_clip for the test; building it must not need a tokenizer."""
    pytest.importorskip("timm")
    import open_clip
    from open_clip import factory
    monkeypatch.setitem(factory._MODEL_CONFIGS, SMALL_SIGLIP, SMALL_SIGLIP_CONFIG)

    def offline(name: str, *args, **kwargs):
        raise OSError(f"no tokenizer for {name} offline")
    monkeypatch.setattr(open_clip, "get_tokenizer", offline)
    return SMALL_SIGLIP


def test_a_siglip_model_builds_with_its_config_width_and_a_learnable_logit_bias(small_siglip) -> None:
    import open_clip
    model = build_model(clip_config(small_siglip))  # the tokenizer fails: it is made on first use
    assert not hasattr(model.clip.visual, "output_dim")  # timm's tower: the width is the config's
    assert model.embed_dim == open_clip.get_model_config(small_siglip)["embed_dim"] == 192
    bias = model.logit_bias
    assert isinstance(bias, torch.nn.Parameter) and bias.requires_grad and bias is model.clip.logit_bias
    assert bias.item() == SMALL_SIGLIP_CONFIG["init_logit_bias"]
    groups = {g["name"]: g["params"] for g in model.param_groups(1e-3)}
    assert list(groups) == ["image", "text", "logit_scale", "logit_bias"]
    assert groups["logit_bias"] == [bias] and all(p is not bias for p in groups["text"])
    assert [k for k in model.state_dict() if "logit_bias" in k] == ["clip.logit_bias"]  # saved once
    with pytest.raises(RuntimeError, match=f"tokenizer of {small_siglip} is not in the local cache"):
        model.tokenize(["a dog"])


def test_a_siglip_model_encodes_and_reloads_its_bias(small_siglip) -> None:
    model = build_model(clip_config(small_siglip))
    prepare, tensor = model.image_transform()
    images = tensor(prepare(Image.new("RGB", (300, 200), (200, 30, 30))))[None].repeat(2, 1, 1, 1)
    tokens = torch.randint(1, 1000, (2, 16))
    out = model(images, tokens)
    assert out.image_features.shape == out.text_features.shape == (2, 192) and out.logit_scale.dim() == 0
    assert out.logit_bias is model.logit_bias  # the objective receives the bias with the features
    with torch.no_grad():
        model.logit_bias.fill_(-3.0)
    rebuilt = build_model(clip_config(small_siglip))
    rebuilt.load_state_dict(model.state_dict())
    assert rebuilt.logit_bias.item() == -3.0


@pytest.fixture
def webli(small_siglip, tmp_path, monkeypatch) -> Path:
    """``small_siglip`` with ViT-B-16-SigLIP's tag ``"webli"`` (a squash resize, mean and std 0.5),
    whose download is a local checkpoint of random weights; returns that file."""
    import open_clip
    from open_clip import factory, pretrained
    monkeypatch.setitem(pretrained._PRETRAINED, small_siglip,
                        {"webli": open_clip.get_pretrained_cfg("ViT-B-16-SigLIP", "webli")})
    path = tmp_path / "webli.pt"
    torch.save(open_clip.create_model(small_siglip).state_dict(), path)
    monkeypatch.setattr(factory, "download_pretrained", lambda cfg, *args, **kwargs: str(path))
    return path


def test_siglip_images_are_squashed_as_open_clip_preprocesses_them(webli, tmp_path) -> None:
    """A non-square photo keeps all of itself (squashed to a square, not centre-cropped), as
    open_clip's own preprocessing of the tag gives it: from the tag, from a checkpoint file of the
    arch and after a reload from the run's model.pt."""
    import open_clip
    photo = Image.new("RGB", (300, 150), (0, 200, 0))
    photo.paste((200, 0, 0), (0, 0, 100, 150))  # red and blue thirds: a centre crop loses them
    photo.paste((0, 0, 200), (200, 0, 300, 150))
    _, _, theirs = open_clip.create_model_and_transforms(SMALL_SIGLIP, pretrained="webli")
    squashed = theirs(photo)
    by_hand = transforms.Normalize([0.5] * 3, [0.5] * 3)(
        transforms.ToTensor()(photo.resize((224, 224), Image.Resampling.BICUBIC)))
    assert torch.allclose(squashed, by_hand, atol=1e-6)
    config = clip_config(SMALL_SIGLIP).replace(pretrained="webli")
    tagged, filed = build_model(config), build_model(config.replace(pretrained=str(webli)))
    save_torch(tmp_path / "run" / "model.pt", {"state_dict": filed.state_dict(),
                                               "config": config.to_dict(),
                                               "rebuild": filed.rebuild_info()})
    for model in (tagged, filed, load_model(tmp_path / "run")):
        prepare, tensor = model.image_transform()
        assert prepare(photo).size == (224, 224)
        assert torch.allclose(model.pixels(tensor(prepare(photo))[None])[0], squashed, atol=1e-6)
    tagged.clip.visual.preprocess_cfg["resize_mode"] = "longest"
    with pytest.raises(ValueError, match="resize_mode='longest'.*'shortest' and 'squash'"):
        tagged.image_transform()


def test_models_without_a_bias_have_none() -> None:
    model = build_model(clip_config("tiny"))
    images = torch.zeros(1, 3, 224, 224)
    assert model.logit_bias is None and model(images, model.tokenize(["a"])).logit_bias is None
    assert [g["name"] for g in model.param_groups(1e-3)] == ["image", "text", "logit_scale"]


@pytest.mark.slow
def test_vit_b_16_siglip_builds_from_random_init_offline() -> None:
    """The real ViT-B-16-SigLIP (about 200 M parameters; 3 to 6 s to build on a 2-core CPU)."""
    pytest.importorskip("timm")
    import open_clip
    model = build_model(clip_config("ViT-B-16-SigLIP"))
    width = open_clip.get_model_config("ViT-B-16-SigLIP")["embed_dim"]
    assert model.embed_dim == width == 768
    assert isinstance(model.logit_bias, torch.nn.Parameter) and model.logit_bias.item() == -10.0
    with torch.no_grad():
        assert model.encode_image(torch.zeros(1, 3, 224, 224)).shape == (1, width)


@pytest.mark.parametrize("model", ["toy", "clip"])
def test_the_sigmoid_loss_gives_a_model_without_a_bias_siglip_s_start(model: str) -> None:
    """loss="sigmoid" through the loss registry: a learnable bias at -10, the learnable scale at 10,
    both outside the towers (their own groups; clipped with the rest), saved and reloaded."""
    config = (ExperimentConfig(n_train=20, n_val=4, n_test=4, loss="sigmoid") if model == "toy"
              else clip_config("tiny").replace(loss="sigmoid"))
    built = build_model(config, ToyWorld(20, 4, 4).split("train") if model == "toy" else None)
    assert built.logit_bias.item() == -10.0 and built.logit_scale.item() == pytest.approx(10.0)
    assert built.logit_bias.requires_grad
    groups = {g["name"]: g["params"] for g in built.param_groups(1e-3)}
    assert groups["logit_bias"] == [built.logit_bias]
    towers = built.tower_parameters()
    assert all(p is not built.logit_bias for params in towers.values() for p in params)
    state = built.state_dict()
    assert "sigmoid_bias" in state
    plain = build_model(config.replace(loss="infonce"), ToyWorld(20, 4, 4).split("train") if model == "toy" else None)
    assert plain.logit_bias is None and "sigmoid_bias" not in plain.state_dict()
    fixed = build_model(config.replace(temperature=0.05), ToyWorld(20, 4, 4).split("train") if model == "toy" else None)
    assert fixed.logit_scale.item() == pytest.approx(20.0)  # a fixed temperature is kept

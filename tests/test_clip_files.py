"""CLIP from a local checkpoint file: the activation its weights were trained with (QuickGELU for
OpenAI's), as a tag would give it, built offline from a small open_clip architecture registered for
the test."""
import pytest
import torch

from svl_lib.config import ExperimentConfig
from svl_lib.experiments.checkpoints import load_model
from svl_lib.files import save_torch
from svl_lib.models import build_model

TEST_ARCH = "svl-test-file-vit"  # a small open_clip architecture, registered for these tests only
ARCH_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


def tag(quick_gelu: bool) -> dict:
    import open_clip
    return {"url": "", "hf_hub": "svl-test/none/", "mean": open_clip.OPENAI_DATASET_MEAN,
            "std": open_clip.OPENAI_DATASET_STD, "interpolation": "bicubic",
            "resize_mode": "shortest", "quick_gelu": quick_gelu}


@pytest.fixture
def checkpoint(tmp_path, monkeypatch):
    """A locally saved checkpoint of ``TEST_ARCH`` (random weights, built offline), whose only tag
    ``"openai"`` needs QuickGELU; the tag's download returns the same file."""
    import open_clip
    from open_clip import factory, pretrained
    monkeypatch.setitem(factory._MODEL_CONFIGS, TEST_ARCH, ARCH_CONFIG)
    monkeypatch.setitem(pretrained._PRETRAINED, TEST_ARCH, {"openai": tag(True)})
    path = tmp_path / "openai.pt"
    torch.manual_seed(0)
    torch.save(open_clip.create_model(TEST_ARCH).state_dict(), path)
    monkeypatch.setattr(factory, "download_pretrained", lambda cfg, *args, **kwargs: str(path))
    return path


def clip_config(pretrained: str, **changes) -> ExperimentConfig:
    return ExperimentConfig(dataset="coco", model="clip", arch=TEST_ARCH, pretrained=pretrained,
                            **changes)


def uses_quick_gelu(model: torch.nn.Module) -> bool:
    from open_clip.transformer import QuickGELU
    return any(isinstance(m, QuickGELU) for m in model.modules())


def embeddings(model) -> torch.Tensor:
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    tokens = model.tokenize(["a red circle 1 2", "a dog"])
    with torch.no_grad():
        out = model.eval()(images, tokens)
    return torch.cat([out.image_features, out.text_features])


def test_a_checkpoint_file_runs_with_the_activation_of_its_arch_s_tags(checkpoint, tmp_path) -> None:
    """The file of weights trained with QuickGELU is the network its tag builds, and stays so
    after a reload from the run's model.pt."""
    from_file = build_model(clip_config(str(checkpoint)))
    from_tag = build_model(clip_config("openai"))
    assert uses_quick_gelu(from_file) and uses_quick_gelu(from_tag)
    assert from_file.rebuild_info()["quick_gelu"] is True
    assert torch.allclose(embeddings(from_file), embeddings(from_tag))
    save_torch(tmp_path / "run" / "model.pt", {"state_dict": from_file.state_dict(),
                                               "config": clip_config(str(checkpoint)).to_dict(),
                                               "rebuild": from_file.rebuild_info()})
    assert uses_quick_gelu(load_model(tmp_path / "run"))


def test_the_config_says_the_activation_of_any_file(checkpoint, monkeypatch) -> None:
    from open_clip import pretrained
    assert not uses_quick_gelu(build_model(clip_config(str(checkpoint), quick_gelu=False)))
    monkeypatch.setitem(pretrained._PRETRAINED, TEST_ARCH, {})  # an arch without tags
    assert not uses_quick_gelu(build_model(clip_config(str(checkpoint))))  # open_clip's default
    assert uses_quick_gelu(build_model(clip_config(str(checkpoint), quick_gelu=True)))


def test_a_file_whose_tags_differ_in_activation_needs_the_config_to_say(checkpoint, monkeypatch) -> None:
    from open_clip import pretrained
    monkeypatch.setitem(pretrained._PRETRAINED, TEST_ARCH, {"openai": tag(True), "laion": tag(False)})
    with pytest.raises(ValueError, match=r"tags of svl-test-file-vit differ.*set quick_gelu=True"):
        build_model(clip_config(str(checkpoint)))
    assert uses_quick_gelu(build_model(clip_config(str(checkpoint), quick_gelu=True)))
    with pytest.raises(ValueError, match="quick_gelu is CLIP's activation, not 'toy'"):
        ExperimentConfig(quick_gelu=True)

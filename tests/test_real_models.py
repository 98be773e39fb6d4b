"""CLIP (open_clip) and VSE++ behind the model contract, in their tiny configurations, and a run of
each on the generated COCO stand-in (224-px toy images with COCO's layout)."""
import json
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from svl_lib.config import ExperimentConfig
from svl_lib.data.toy import ToyWorld, export_karpathy
from svl_lib.experiments.checkpoints import load_model
from svl_lib.experiments.experiment import run_experiment
from svl_lib.models import build_model
from svl_lib.models.clip import create_clip
from svl_lib.models.vse import MIN_WORD_COUNT, image_trunk
from svl_lib.experiments.registries import resolve

PHOTO = Image.new("RGB", (320, 240), (200, 30, 30))


@pytest.fixture(scope="module")
def coco(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "coco"
    export_karpathy(ToyWorld(n_train=64, n_val=8, n_test=20, image_size=224, seed=0), root,
                    dataset="coco")
    return root


def config(coco: Path, **kw) -> ExperimentConfig:
    base = dict(dataset="coco", data_root=str(coco), model="clip", arch="tiny", epochs=1,
                batch_size=32, lr=1e-3, warmup_steps=1, shortcut_mode="unique", probes=False)
    return ExperimentConfig(**{**base, **kw})


def test_tiny_clip_contract() -> None:
    model = build_model(ExperimentConfig(dataset="coco", model="clip", arch="tiny"))
    prepare, tensor = model.image_transform()
    x = tensor(prepare(PHOTO))
    assert prepare(PHOTO).size == (224, 224) and x.shape == (3, 224, 224) and x.dtype == torch.uint8
    assert model.pixels(x[None]).min() < 0  # normalised on the model's side
    tokens = model.tokenize(["a red circle " * 60 + "1 2 3", "a dog"])
    assert tokens.shape == (2, 77) and tokens[0, -1] == tokens.max()  # end-of-text kept last
    out = model(x[None].repeat(2, 1, 1, 1), tokens)
    image_f, text_f, scale = out.image_features, out.text_features, out.logit_scale
    assert image_f.shape == text_f.shape == (2, 64)
    assert torch.allclose(image_f.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert scale.item() == pytest.approx(1 / 0.07, rel=1e-4)  # open_clip's own initial scale
    names = [g["name"] for g in model.param_groups(1e-3)]
    assert names == ["image", "text", "logit_scale"]
    assert not model.clip.logit_scale.requires_grad  # only the course's log_scale trains


def test_clip_names_tags_and_offline_weights_fail_fast_and_clearly(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="unknown open_clip model 'RN5O'.*RN50"):
        create_clip("RN5O")
    with pytest.raises(ValueError, match="neither a file nor a tag of RN50"):
        create_clip("RN50", "laion-nonsense")
    started = time.perf_counter()
    with pytest.raises(RuntimeError, match="offline.*pass its path as pretrained"):
        create_clip("RN50", "openai")
    assert time.perf_counter() - started < 60


def test_tiny_vse_contract() -> None:
    captions = ["a red circle"] * MIN_WORD_COUNT + ["a rare zebra"]
    from svl_lib.corpus import ArrayImages, Corpus
    train = Corpus("x", "train", [captions], ArrayImages(torch.zeros(1, 8, 8, 3, dtype=torch.uint8).numpy()))
    model = build_model(ExperimentConfig(dataset="coco", model="vse", arch="tiny", embed_dim=32), train)
    assert "circle" in model.vocab.index and "zebra" not in model.vocab.index  # min count 4
    assert all(str(d) in model.vocab.index for d in range(10))
    train_prepare, tensor = model.image_transform(train=True)
    eval_prepare, _ = model.image_transform()
    assert train_prepare(PHOTO).size == eval_prepare(PHOTO).size == (224, 224)
    out = model(tensor(eval_prepare(PHOTO))[None], model.tokenize(["a red circle 1"]))
    image_f, text_f, scale = out.image_features, out.text_features, out.logit_scale
    assert image_f.shape == text_f.shape == (1, 32) and scale.item() == pytest.approx(1 / 0.07, rel=1e-4)
    with pytest.raises(ValueError, match="VSE\\+\\+ arch must be one of"):
        image_trunk("vgg16", "")
    with pytest.raises(FileNotFoundError, match="neither 'imagenet'"):
        image_trunk("resnet18", "no/such/file.pt")


@pytest.mark.slow
@pytest.mark.parametrize("model", ["clip", "vse"])
def test_a_tiny_real_model_trains_on_the_coco_stand_in_and_reloads(coco, tmp_path, model) -> None:
    cfg = config(coco, model=model, embed_dim=32)
    metrics = run_experiment(cfg, tmp_path / "run")
    assert set(metrics["eval"]) == {"clean", "shortcut", "image_only", "caption_only"}
    assert metrics["eval_protocol"] == "all 20 test images"
    assert metrics["eval_5fold_protocol"] == "5 folds of 4 test images, averaged"
    assert 0 <= metrics["eval_5fold"]["clean"]["rsum"] <= 600
    reloaded = load_model(tmp_path / "run")
    assert type(reloaded).__name__ == ("OpenCLIP" if model == "clip" else "VSEPlusPlus")
    again = run_experiment(cfg.replace(eval_conditions=("clean",)), tmp_path / "run", resume=True)
    assert again["eval"]["clean"] == pytest.approx(metrics["eval"]["clean"])  # re-evaluated, same


def test_bad_real_configs_fail_before_anything_is_written(coco, tmp_path) -> None:
    with pytest.raises(ValueError, match="needs photos at 224 px"):
        resolve(ExperimentConfig(model="clip"))
    with pytest.raises(ValueError, match="batch_size=4096 is larger"):
        run_experiment(config(coco, batch_size=4096), tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="data root .*nothing of dataset 'coco' not found"):
        run_experiment(config(coco, data_root=str(tmp_path / "nothing")), tmp_path / "run")
    with pytest.raises(ValueError, match="unknown open_clip model"):
        run_experiment(config(coco, arch="RN5O"), tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_the_command_line_entry_point_trains_then_loads(coco, tmp_path, capsys) -> None:
    from svl_lib.experiments.run import main
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config(coco, model="vse", embed_dim=32).to_dict()))
    assert main([str(tmp_path / "run"), "--config", str(path), "--set", "epochs=1", "name=cli"]) == 0
    assert "clean: RSUM" in capsys.readouterr().out
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["name"] == "cli" and saved["model"] == "vse"
    assert main([str(tmp_path / "run"), "--config", str(tmp_path / "run" / "config.json")]) == 0
    with pytest.raises(SystemExit):
        main([str(tmp_path / "run"), "--config", str(path), "--set", "epochs"])


def test_per_tower_learning_rates(coco) -> None:
    from svl_lib.data.loading import CaptionDataset
    from svl_lib.train.loop import TrainSettings, train
    cfg = config(coco, image_lr_scale=0.1)
    model = build_model(cfg)
    dataset = CaptionDataset(load_split_of(cfg), None, *model.image_transform(train=True))
    history = train(model, dataset, TrainSettings(1, 32, 1e-3, warmup_steps=1, image_lr_scale=0.1),
                    progress=False)
    assert history[0]["lr"] == pytest.approx(1e-4)  # the first group is the image tower's


def load_split_of(cfg):
    from svl_lib.data import load_split
    return load_split(cfg, "train")

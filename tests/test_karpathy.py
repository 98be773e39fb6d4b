"""Karpathy-format datasets (COCO, Flickr30k) on a generated stand-in: the toy world rendered at
224 px and written as JPEG files with COCO's layout (``filepath``, ``restval``)."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from svl_lib.config import ExperimentConfig
from svl_lib.data import load_split
from svl_lib.data.karpathy import read_karpathy
from svl_lib.data.prepare import make_subset
from svl_lib.data.verify import report, verify
from svl_lib.data.toy import ToyWorld, export_karpathy
from svl_lib.digits import load_glyph_bank
from svl_lib.evaluate.conditions import Features
from svl_lib.experiments.registries import resolve
from svl_lib.evaluate.retrieval import retrieval_metrics
from svl_lib.shortcuts import ShortcutInjector

WORLD = ToyWorld(n_train=30, n_val=5, n_test=10, image_size=224, seed=0)


@pytest.fixture(scope="module")
def coco(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "coco"
    export_karpathy(WORLD, root, dataset="coco")
    return root


def copy(coco: Path, tmp_path: Path) -> Path:
    shutil.copytree(coco, tmp_path / "coco")
    return tmp_path / "coco"


def test_coco_layout_restval_joins_train_and_five_captions(coco) -> None:
    data = json.loads((coco / "dataset_coco.json").read_text())
    splits = [im["split"] for im in data["images"]]
    assert splits.count("restval") == 3 and splits.count("train") == 27
    assert {im["filepath"] for im in data["images"]} == {"train2014", "val2014"}
    assert (coco / "images" / "val2014").is_dir() and any((coco / "images" / "train2014").glob("*.jpg"))
    config = ExperimentConfig(dataset="coco", data_root=str(coco), model="clip", arch="tiny")
    train = load_split(config, "train")
    assert train.n_images == 30 and all(len(c) == 5 for c in train.captions)
    assert train.captions == WORLD.split("train").captions  # JSON order, restval last
    assert train.load_image(0).size == (224, 224)
    assert load_split(config, "test").n_images == 10


def test_six_28px_tiles_along_the_top_edge_at_224px(coco) -> None:
    config = resolve(ExperimentConfig(dataset="coco", data_root=str(coco), model="clip", arch="tiny"))
    assert (config.n_digits, config.tile_fraction) == (6, 0.125)
    image = load_split(config, "test").load_image(0)
    injector = ShortcutInjector(config.eval_spec(), 10, load_glyph_bank("auto", part="eval"), 0,
                                evaluation=True, split="test")
    out = np.asarray(injector.render_image(image, 123456, 0)).astype(int)
    changed = np.argwhere(np.abs(out - np.asarray(image).astype(int)).sum(-1) > 0)
    assert changed[:, 0].max() < 28  # rows 0..27 only
    assert changed[:, 1].max() < 5 * 37 + 28  # six tiles at x = 0, 37, ..., 185
    assert injector.render_caption("a cat .", 42) == "a cat . 0 0 0 0 4 2"


def test_missing_and_bad_inputs_are_one_clear_error(coco, tmp_path) -> None:
    root = copy(coco, tmp_path)
    json_path, images = root / "dataset_coco.json", root / "images"
    with pytest.raises(FileNotFoundError, match="Karpathy split file"):
        read_karpathy(tmp_path / "nope.json", images, "test")
    with pytest.raises(FileNotFoundError, match="image folder"):
        read_karpathy(json_path, tmp_path / "nope", "test")
    data = json.loads(json_path.read_text())
    del data["images"][3]["sentences"][0]["raw"]
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"image 3 has no field 'sentences\[\]\.raw'"):
        read_karpathy(tmp_path / "bad.json", images, "train")
    data = json.loads(json_path.read_text())
    (tmp_path / "novaltest.json").write_text(json.dumps(
        {"images": [im for im in data["images"] if im["split"] != "val"]}))
    with pytest.raises(ValueError, match="no images in split 'val'"):
        read_karpathy(tmp_path / "novaltest.json", images, "val")
    victim = next((images / "val2014").glob("*.jpg"))
    victim.unlink()
    with pytest.raises(FileNotFoundError, match="missing under"):
        read_karpathy(json_path, images, "val")


def test_unreadable_image_names_the_file_and_verify_reports_both(coco, tmp_path, capsys) -> None:
    root = copy(coco, tmp_path)
    json_path, images = root / "dataset_coco.json", root / "images"
    test_files = [f"val2014/{im['filename']}" for im in json.loads(json_path.read_text())["images"]
                  if im["split"] == "test"]
    (images / test_files[1]).write_bytes(b"not a jpeg")
    corpus = read_karpathy(json_path, images, "test")
    with pytest.raises(OSError, match="cannot be read"):
        corpus.load_image(1)
    (images / test_files[2]).unlink()
    problems = verify(json_path, images)
    assert problems["train"] == [] and problems["val"] == []
    assert problems["test"] == [f"unreadable: {test_files[1]}", f"missing: {test_files[2]}"]
    assert report(problems, images) == 1 and "2 problems" in capsys.readouterr().out
    assert report(verify(coco / "dataset_coco.json", coco / "images"), coco / "images") == 0


def test_subset_keeps_the_first_images_of_each_split(coco, tmp_path) -> None:
    path = make_subset("coco", coco / "dataset_coco.json", tmp_path / "sub", 4)
    splits = [im["split"] for im in json.loads(path.read_text())["images"]]
    assert splits == ["train"] * 4 + ["val"] * 4 + ["test"] * 4
    assert make_subset("coco", coco / "dataset_coco.json", tmp_path / "sub", 2) == path  # kept


def test_five_fold_scores_average_the_folds() -> None:
    gen = torch.Generator().manual_seed(0)
    images = torch.nn.functional.normalize(torch.randn(10, 8, generator=gen), dim=-1)
    texts = torch.nn.functional.normalize(torch.randn(50, 8, generator=gen), dim=-1)
    owners = torch.arange(10).repeat_interleave(5)
    features = Features(["clean"], {False: images}, {False: texts}, owners)
    assert features.score()["clean"] == retrieval_metrics(images, texts, owners)
    folds = [retrieval_metrics(images[a:a + 2], texts[5 * a:5 * a + 10], owners[5 * a:5 * a + 10] - a)
             for a in range(0, 10, 2)]
    assert features.score(folds=5)["clean"]["rsum"] == pytest.approx(
        sum(f["rsum"] for f in folds) / 5)
    with pytest.raises(ValueError, match="folds"):
        features.score(folds=11)

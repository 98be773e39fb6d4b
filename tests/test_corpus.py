"""Corpus image loaders: picklable (DataLoader workers under ``spawn``), clear errors on bad files."""
import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from svl_lib.corpus import ArrayImages, ImageFiles
from svl_lib.data.karpathy import read_karpathy
from svl_lib.data.loading import CaptionDataset
from svl_lib.data.toy import ToyWorld, export_karpathy
from svl_lib.digits import sklearn_digits_bank
from svl_lib.shortcuts import ShortcutInjector, ShortcutSpec

WORLD = ToyWorld(n_train=20, n_val=2, n_test=4, seed=5)


def assert_same_item(a: tuple, b: tuple) -> None:
    assert torch.equal(a[0], b[0])
    assert a[1:] == b[1:]


def test_toy_split_survives_pickling() -> None:
    corpus = WORLD.split("train")
    assert isinstance(corpus.load_image, ArrayImages) and len(corpus.load_image) == 20
    copy = pickle.loads(pickle.dumps(corpus))
    assert copy.captions == corpus.captions
    assert np.array_equal(np.asarray(copy.load_image(7)), np.asarray(corpus.load_image(7)))
    assert np.array_equal(copy.labels["shape"], corpus.labels["shape"])
    gray = ArrayImages(np.zeros((2, 5, 4), dtype=np.uint8))
    assert len(gray) == 2 and gray(1).mode == "RGB" and gray(1).size == (4, 5)


@pytest.mark.parametrize("shortcut", [False, True])
def test_caption_dataset_survives_pickling(shortcut: bool) -> None:
    corpus = WORLD.split("train")
    injector = None
    if shortcut:
        injector = ShortcutInjector(ShortcutSpec(mode="unique", n_digits=2), corpus.n_images,
                                    sklearn_digits_bank(), seed=0)
    dataset = CaptionDataset(corpus, injector)
    dataset.set_epoch(1)
    copy = pickle.loads(pickle.dumps(dataset))
    assert len(copy) == len(dataset) == 100
    for n in (0, 37, 99):
        assert_same_item(copy[n], dataset[n])


def test_karpathy_split_survives_pickling(tmp_path) -> None:
    path = export_karpathy(WORLD, tmp_path / "toy")
    corpus = read_karpathy(path, tmp_path / "toy" / "images", "test")
    assert isinstance(corpus.load_image, ImageFiles) and len(corpus.load_image) == 4
    dataset = CaptionDataset(corpus)
    copy = pickle.loads(pickle.dumps(dataset))
    assert_same_item(copy[6], dataset[6])


def test_dataloader_with_a_spawned_worker_yields_a_batch() -> None:
    dataset = CaptionDataset(WORLD.split("train"))
    loader = DataLoader(dataset, batch_size=8, num_workers=1, multiprocessing_context="spawn")
    images, captions, owners = next(iter(loader))
    assert images.shape == (8, 3, 32, 32)
    assert list(captions) == [dataset[n][1] for n in range(8)]
    assert torch.equal(images[3], dataset[3][0])
    assert owners.tolist() == [0] * 5 + [1] * 3


def test_a_missing_image_file_is_named(tmp_path) -> None:
    path = export_karpathy(WORLD, tmp_path / "toy")
    corpus = read_karpathy(path, tmp_path / "toy" / "images", "test")
    (tmp_path / "toy" / "images" / "toy_test_000002.png").unlink()
    corpus.load_image(1)  # the other images still load
    with pytest.raises(FileNotFoundError, match=r"toy_test_000002\.png.* is missing"):
        corpus.load_image(2)


def test_an_unreadable_image_file_is_named(tmp_path) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "good.png").read_bytes()[:40])
    load = ImageFiles(tmp_path, ["good.png", "bad.png", "cut.png"])
    assert load(0).mode == "RGB" and load(0).size == (4, 4)
    for i, name in ((1, "bad.png"), (2, "cut.png")):
        with pytest.raises(OSError, match=rf"{name}.* cannot be read"):
            load(i)

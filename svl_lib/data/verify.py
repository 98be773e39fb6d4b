"""Checks of prepared data for ``python -m svl_lib.data.prepare ... --verify``: every image a
Karpathy JSON names is there and readable (:func:`verify`, :func:`report`), and every file a
``manifest.json`` records matches its record (:func:`check_manifest`). Reads only.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from .hub import Manifest, PrepareError
from .karpathy import SPLIT_MEMBERS, image_path, read_entries


def verify(json_path: Path, image_root: Path) -> dict[str, list[str]]:
    """Per split, the image paths that are missing or unreadable (empty lists: all good)."""
    problems: dict[str, list[str]] = {}
    for split in SPLIT_MEMBERS:
        problems[split] = []
        for entry in read_entries(json_path, split)[1]:
            path = image_root / image_path(entry)
            try:
                with Image.open(path) as image:
                    image.verify()
            except FileNotFoundError:
                problems[split].append(f"missing: {image_path(entry)}")
            except Exception:
                problems[split].append(f"unreadable: {image_path(entry)}")
    return problems


def report(problems: dict[str, list[str]], image_root: Path) -> int:
    """Print a summary of :func:`verify`; 0 when nothing is missing, else 1."""
    for split, bad in problems.items():
        print(f"{split}: {'all images present and readable' if not bad else f'{len(bad):,} problems'}")
        for line in bad[:5]:
            print(f"    {line}")
    if any(problems.values()):
        print(f"fix the files above under {image_root}: delete damaged images and run this command "
              "again (a subset fetches what is missing; a folder of an archive that is there is not "
              "extracted again: move it away first)")
        return 1
    return 0


def check_manifest(folder: Path) -> int:
    """Check every file that ``folder``'s manifest records and that is there; print each
    mismatch. 0 when all match (or there is no manifest), else 1."""
    manifest, bad = Manifest(folder), []
    for name in list(manifest.records):
        if (folder / name).is_file():
            try:
                manifest.check(name)
            except PrepareError as err:
                bad.append(str(err))
    for line in bad:
        print(f"    {line}")
    print(f"{manifest.path.name}: {len(manifest.records):,} files recorded, {len(bad)} mismatches")
    return int(bool(bad))

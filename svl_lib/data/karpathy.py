"""Karpathy-split datasets: ``dataset_coco.json`` / ``dataset_flickr30k.json`` and their images.

Fields used: ``images[].split`` (``train``/``val``/``test``/``restval``; ``restval`` joins
``train``), ``images[].filename`` and, when present, ``images[].filepath`` (COCO: ``train2014`` /
``val2014``; the image is ``image_root / filepath / filename``), ``images[].sentences[].raw``.
Images keep the JSON order within the split and are indexed ``0..n-1`` (so unique shortcut ids are
a bijection over the split). Only the first ``captions_per_image`` captions of an image are kept, as
in the paper.

Layout under the data root (``$SVL_DATA_DIR/<dataset>`` or the config's ``data_root``)::

    coco/dataset_coco.json        coco/images/train2014/*.jpg, coco/images/val2014/*.jpg
    flickr30k/dataset_flickr30k.json   flickr30k/images/*.jpg
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..corpus import Corpus, ImageFiles

SPLIT_MEMBERS = {"train": ("train", "restval"), "val": ("val",), "test": ("test",)}


class JpegFiles(ImageFiles):
    """:class:`ImageFiles` whose JPEGs may be decoded at a reduced size, with ``draft=True`` only:
    :meth:`load` then asks PIL's JPEG decoder (``Image.draft``) for the largest of the scales 1/8,
    1/4, 1/2 that keeps both sides at least ``side`` (scaled in the DCT domain, several times faster
    than a full decode; a 640x480 COCO image decodes at 320x240 for a 224-px model, a 640x427 one at
    full size). The pixels then differ slightly from a full decode resized (open_clip and the
    reference decode at full size), so the default decodes every image at full size, as other
    formats always are."""

    def __init__(self, root: Path | str, filenames: Sequence[str], draft: bool = False):
        super().__init__(root, filenames)
        self.draft = draft

    def load(self, i: int, side: int | None) -> Image.Image:
        """Image ``i`` as RGB, reduced with ``draft`` for a model that needs a shorter side of
        ``side`` pixels (``None``: full size). A missing or unreadable file raises the error naming it."""
        if side is None or not self.draft:
            return self(i)
        try:
            with Image.open(self.root / self.filenames[i]) as im:
                im.draft("RGB", (side, side))
                return im.convert("RGB")
        except OSError:  # missing or unreadable: the full decode raises the error that names it
            return self(i)


def karpathy_files(root: Path | str, dataset: str) -> tuple[Path, Path]:
    """``(json_path, image_root)`` of ``dataset`` under its data root."""
    root = Path(root)
    return root / f"dataset_{dataset}.json", root / "images"


def image_path(entry: dict) -> str:
    """The image's path relative to the image root: ``filepath/filename`` or ``filename``."""
    return f"{entry['filepath']}/{entry['filename']}" if entry.get("filepath") else entry["filename"]


def read_entries(json_path: Path | str, split: str) -> tuple[str, list[dict]]:
    """The dataset name and the image entries of ``split`` (JSON order), each checked for the
    fields the course reads; one clear error for a missing file, a missing field or an empty split."""
    json_path = Path(json_path)
    if split not in SPLIT_MEMBERS:
        raise ValueError(f"unknown split {split!r}; choose one of {tuple(SPLIT_MEMBERS)}")
    if not json_path.is_file():
        raise FileNotFoundError(
            f"Karpathy split file {json_path} not found: put dataset_<name>.json there (python -m "
            "svl_lib.data.prepare downloads it; or set SVL_DATA_DIR / data_root to its folder)")
    try:
        data = json.loads(json_path.read_text())
        images = data["images"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{json_path} is not a Karpathy split file (no readable 'images' list: "
                         f"{err}): download dataset_<name>.json again") from None
    entries = []
    for n, entry in enumerate(images):
        missing = [k for k in ("split", "filename", "sentences") if k not in entry]
        if missing or any("raw" not in s for s in entry.get("sentences", [])):
            field = missing[0] if missing else "sentences[].raw"
            raise ValueError(f"{json_path}: image {n} has no field {field!r}; the course needs "
                             "split, filename and sentences[].raw in every image entry")
        if entry["split"] in SPLIT_MEMBERS[split]:
            entries.append(entry)
    if not entries:
        raise ValueError(f"{json_path} has no images in split {split!r} (members: "
                         f"{', '.join(SPLIT_MEMBERS[split])})")
    return data.get("dataset", json_path.stem.removeprefix("dataset_")), entries


def read_karpathy(json_path: Path | str, image_root: Path | str, split: str,
                  captions_per_image: int = 5, draft: bool = False) -> Corpus:
    """Load one split. Every image of the split must exist under ``image_root`` (checked here, so
    a missing image is an error before training); an unreadable one fails when it is read, naming
    the file. ``draft``: JPEGs decoded at a reduced size before a resize (:class:`JpegFiles`)."""
    name, entries = read_entries(json_path, split)
    image_root = Path(image_root)
    if not image_root.is_dir():
        raise FileNotFoundError(f"image folder {image_root} not found: put the dataset's images there "
                                "(python -m svl_lib.data.prepare says what is missing)")
    paths = [image_path(entry) for entry in entries]
    missing = [p for p in paths if not (image_root / p).is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing):,} image(s) of split {split!r} missing under "
                                f"{image_root}, e.g. {missing[0]}")
    captions = [[s["raw"] for s in entry["sentences"][:captions_per_image]] for entry in entries]
    labels: dict[str, np.ndarray] = {}
    if all("toy_labels" in entry for entry in entries):
        labels = {a: np.array([entry["toy_labels"][a] for entry in entries])
                  for a in entries[0]["toy_labels"]}
    return Corpus(name=name, split=split, captions=captions,
                  load_image=JpegFiles(image_root, paths, draft), labels=labels)

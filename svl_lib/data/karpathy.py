"""Reader of Karpathy-split JSON files (``dataset_coco.json``, ``dataset_flickr30k.json``).

Fields used: ``images[].split`` (``train``/``val``/``test``/``restval``; ``restval`` joins
``train``), ``images[].filename``, ``images[].sentences[].raw``. Images keep the JSON order within
the split and are indexed ``0..n-1`` (so unique shortcut ids are a bijection over the split). Only
the first ``captions_per_image`` captions of an image are kept, as in the paper.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .corpus import Corpus, ImageFiles

_SPLIT_MEMBERS = {"train": ("train", "restval"), "val": ("val",), "test": ("test",)}


def read_karpathy(json_path: Path | str, image_root: Path | str, split: str,
                  captions_per_image: int = 5) -> Corpus:
    """Load one split. ``image_root / filename`` must exist for the split's images."""
    json_path, image_root = Path(json_path), Path(image_root)
    if split not in _SPLIT_MEMBERS:
        raise ValueError(f"unknown split {split!r}; choose one of {tuple(_SPLIT_MEMBERS)}")
    if not json_path.is_file():
        raise FileNotFoundError(
            f"Karpathy split file {json_path} not found: put dataset_<name>.json there "
            "(or set SVL_DATA_DIR to the folder that holds it)")
    if not image_root.is_dir():
        raise FileNotFoundError(f"image folder {image_root} not found: put the dataset's images there")
    data = json.loads(json_path.read_text())
    entries = [im for im in data["images"] if im["split"] in _SPLIT_MEMBERS[split]]
    if not entries:
        raise ValueError(f"{json_path} has no images in split {split!r}")
    missing = [im["filename"] for im in entries if not (image_root / im["filename"]).is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} image(s) of split {split!r} missing under "
                                f"{image_root}, e.g. {missing[0]}")
    captions = [[s["raw"] for s in im["sentences"][:captions_per_image]] for im in entries]
    labels: dict[str, np.ndarray] = {}
    if all("toy_labels" in im for im in entries):
        names = entries[0]["toy_labels"].keys()
        labels = {a: np.array([im["toy_labels"][a] for im in entries]) for a in names}
    return Corpus(name=data.get("dataset", json_path.stem), split=split, captions=captions,
                  load_image=ImageFiles(image_root, [im["filename"] for im in entries]),
                  labels=labels)

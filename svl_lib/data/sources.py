"""The Karpathy splits of COCO and Flickr30k as published on the Hugging Face Hub, converted to the
Karpathy JSON that :mod:`svl_lib.data.karpathy` reads (one reader for every source).

* COCO: dataset repository ``yerevann/coco-karpathy``, one parquet file per split
  (:data:`COCO_FILES`); each row is one image with the columns :data:`COCO_COLUMNS`: ``filepath``
  (``train2014`` / ``val2014``), ``filename``, ``sentences`` (its captions: strings, or records with
  ``raw`` as in Karpathy's JSON), ``url`` (the image on COCO's server), ``cocoid``, ``imgid``,
  ``sentids`` and ``split``. Its images come from COCO's 2014 archives or one by one from ``url``.
* Flickr30k: dataset repository ``nlphuji/flickr30k``: :data:`FLICKR30K_CSV` with the columns
  :data:`FLICKR30K_COLUMNS` (``raw`` is a JSON list of the captions, ``sentids`` one of their ids)
  and the images in :data:`FLICKR30K_ZIP`.

Every column read is checked first; upstream format changes fail with one error naming the column
and the file. Images are ordered by ``imgid`` (``img_id``), the order of Karpathy's JSON, so that
subsets and shortcut ids do not depend on how the upstream files are split.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from .hub import PrepareError

COCO_REPO = "yerevann/coco-karpathy"
COCO_FILES = tuple(f"data/{s}-00000-of-00001.parquet" for s in ("train", "validation", "test", "restval"))
COCO_COLUMNS = ("filepath", "filename", "sentences", "url", "cocoid", "imgid", "sentids", "split")

FLICKR30K_REPO = "nlphuji/flickr30k"
FLICKR30K_CSV = "flickr_annotations_30k.csv"
FLICKR30K_ZIP = "flickr30k-images.zip"
FLICKR30K_COLUMNS = ("raw", "sentids", "split", "filename", "img_id")

KARPATHY_SPLITS = ("train", "restval", "val", "test")


def require_columns(path: Path, found: Sequence[str], needed: Iterable[str]) -> None:
    """One :class:`PrepareError` naming the first column of ``needed`` missing from ``found``."""
    for column in needed:
        if column not in found:
            raise PrepareError(f"{path} has no column {column!r} (it has {', '.join(found)}): the "
                               "upstream format changed; this version of svl_lib cannot read it")


def _split(value: object, path: Path, image: object) -> str:
    if value not in KARPATHY_SPLITS:
        raise PrepareError(f"{path}: image {image} has split {value!r}, not one of {KARPATHY_SPLITS}")
    return str(value)


def _caption(item: object, path: Path, image: object) -> str:
    """A caption given as a string or as a Karpathy record ``{"raw": ..., "tokens": ...}``."""
    raw = item.get("raw") if isinstance(item, dict) else item
    if not isinstance(raw, str):
        raise PrepareError(f"{path}: a caption of image {image} is neither a string nor a record "
                           f"with 'raw' ({item!r:.80})")
    return raw


def coco_images(parquets: Iterable[Path]) -> list[dict]:
    """The Karpathy JSON ``images`` list of the COCO parquet files (all splits together)."""
    import pyarrow.parquet as pq

    images = []
    for path in parquets:
        require_columns(path, pq.read_schema(path).names, COCO_COLUMNS)
        for row in pq.read_table(path, columns=list(COCO_COLUMNS)).to_pylist():
            image = row["imgid"]
            images.append({
                "filepath": row["filepath"], "filename": row["filename"],
                "split": _split(row["split"], path, image),
                "sentences": [{"raw": _caption(s, path, image)} for s in row["sentences"]],
                "imgid": image, "cocoid": row["cocoid"], "sentids": row["sentids"], "url": row["url"]})
    return sorted(images, key=lambda im: im["imgid"])


def _json_list(text: str, column: str, path: Path, image: object) -> list:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list):
        raise PrepareError(f"{path}: column {column!r} of image {image} is not a JSON list ({text!r:.80})")
    return value


def flickr30k_images(path: Path) -> list[dict]:
    """The Karpathy JSON ``images`` list of Flickr30k's annotation CSV."""
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        require_columns(path, reader.fieldnames or [], FLICKR30K_COLUMNS)
        images = []
        for row in reader:
            image = row["img_id"]
            if not image.isdigit():
                raise PrepareError(f"{path}: column 'img_id' holds {image!r}, not an image number")
            image = int(image)
            images.append({
                "filename": row["filename"], "split": _split(row["split"], path, image),
                "sentences": [{"raw": _caption(s, path, image)}
                              for s in _json_list(row["raw"], "raw", path, image)],
                "imgid": image, "sentids": _json_list(row["sentids"], "sentids", path, image)})
    return sorted(images, key=lambda im: im["imgid"])

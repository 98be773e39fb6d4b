"""Prepare COCO / Flickr30k for the course on a machine with internet, and verify what is there.

    python -m svl_lib.data.prepare coco                  # Karpathy JSON + the COCO 2014 archives
    python -m svl_lib.data.prepare coco --subset 1000    # the first 1,000 images of each split
    python -m svl_lib.data.prepare flickr30k             # the JSON; says where to put the images
    python -m svl_lib.data.prepare coco --verify         # only check, download nothing

Files go to ``$SVL_DATA_DIR/<dataset>`` (``--root``); a subset goes to its own folder
(``<dataset>_subset<N>``, with its own ``dataset_<name>.json``), used through the config's
``data_root``. Existing files are never overwritten: downloads skip what is there, and a cut-off
download leaves only a temporary file. At the end the folder is verified (every image of every
split present and readable) and what is missing is printed. Never run in tests; its verification
(:func:`verify`) is tested on a generated dataset.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from PIL import Image

from ..files import write_text
from ..paths import data_dir
from .karpathy import SPLIT_MEMBERS, image_path, karpathy_files, read_entries

KARPATHY_ZIP = "https://cs.stanford.edu/people/karpathy/deepimagesent/caption_datasets.zip"
COCO_IMAGES = "http://images.cocodataset.org"  # <server>/<filepath>/<filename>; zips/<filepath>.zip
FLICKR30K_FORM = "https://shannon.cs.illinois.edu/DenotationGraph/"


def download(url: str, path: Path) -> None:
    """``url`` to ``path`` through a temporary file beside it, unless ``path`` exists."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                shutil.copyfileobj(response, tmp)
        except BaseException:
            Path(tmp.name).unlink()
            raise
    Path(tmp.name).rename(path)


def fetch_json(dataset: str, root: Path) -> Path:
    """``dataset_<name>.json`` from Karpathy's ``caption_datasets.zip`` into ``root``."""
    json_path = karpathy_files(root, dataset)[0]
    if not json_path.exists():
        archive = root / "caption_datasets.zip"
        download(KARPATHY_ZIP, archive)
        with zipfile.ZipFile(archive) as z:
            write_text(json_path, z.read(json_path.name).decode())
    return json_path


def make_subset(dataset: str, source_json: Path, out: Path, n: int) -> Path:
    """A Karpathy JSON of the first ``n`` images of each split (``restval`` counts as train) in
    ``out``; one already there is kept as it is."""
    json_path = karpathy_files(out, dataset)[0]
    if json_path.exists():
        return json_path
    kept = []
    for split in SPLIT_MEMBERS:
        kept += read_entries(source_json, split)[1][:n]
    return write_text(json_path, json.dumps({"dataset": dataset, "images": kept}))


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
        print(f"fix the files above under {image_root} (re-run this command to download COCO images)")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=("coco", "flickr30k"))
    parser.add_argument("--root", type=Path, default=None, help="default: $SVL_DATA_DIR/<dataset>")
    parser.add_argument("--subset", type=int, default=None, help="the first N images of each split")
    parser.add_argument("--verify", action="store_true", help="only check what is there")
    args = parser.parse_args(argv)
    root = args.root or data_dir() / args.dataset
    if not args.verify:
        json_path = fetch_json(args.dataset, root)
        if args.subset:
            source, root = json_path, root.parent / f"{root.name}_subset{args.subset}"
            make_subset(args.dataset, source, root, args.subset)
        image_root = karpathy_files(root, args.dataset)[1]
        if args.dataset == "flickr30k":
            print(f"Flickr30k images are available only through the dataset's request form "
                  f"({FLICKR30K_FORM}); put flickr30k-images/*.jpg into {image_root}")
        elif args.subset:
            for split in SPLIT_MEMBERS:
                for entry in read_entries(karpathy_files(root, "coco")[0], split)[1]:
                    download(f"{COCO_IMAGES}/{image_path(entry)}", image_root / image_path(entry))
        else:
            for part in ("train2014", "val2014"):  # 13 GB and 6 GB
                if not (image_root / part).is_dir():
                    archive = root / f"{part}.zip"
                    download(f"{COCO_IMAGES}/zips/{part}.zip", archive)
                    with zipfile.ZipFile(archive) as z:
                        z.extractall(image_root)
    json_path, image_root = karpathy_files(root, args.dataset)
    print(f"verifying {json_path} and {image_root} ...")
    code = report(verify(json_path, image_root), image_root)
    print(f"data_root for the config: {root}")
    return code


if __name__ == "__main__":
    sys.exit(main())

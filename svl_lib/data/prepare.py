"""Prepare COCO / Flickr30k (and MNIST) on a machine with internet, and verify what is there.

    python -m svl_lib.data.prepare coco                  # Karpathy split + COCO 2014 images (19 GB)
    python -m svl_lib.data.prepare coco --subset 2000    # the first 2,000 images of each split
    python -m svl_lib.data.prepare flickr30k --accept-flickr30k-terms   # split + images (4.4 GB)
    python -m svl_lib.data.prepare mnist                 # only MNIST (the two above fetch it too)
    python -m svl_lib.data.prepare coco --verify         # only check, download nothing

The Karpathy splits come from the Hugging Face Hub (:mod:`svl_lib.data.sources`) and are written as
``dataset_<name>.json``; COCO's images from COCO's 2014 archives or, for a subset, one by one from
each image's URL (in parallel, with retries); Flickr30k's from the archive on the Hub, after its
terms of use are accepted. MNIST, whose digits write the shortcut numbers, goes to
``$SVL_DATA_DIR/MNIST/raw`` (where :mod:`svl_lib.digits` reads it).

Files go to ``$SVL_DATA_DIR/<dataset>`` (``--root``); a subset goes to its own folder
(``<dataset>_subset<N>``, with its own ``dataset_<name>.json`` and ``images/``), used through the
config's ``data_root``. Each folder's ``manifest.json`` records what was fetched (source, revision,
size, SHA-256) and a re-run checks the files against it (:mod:`svl_lib.data.hub`). Nothing there is
overwritten; cut-off downloads and extractions are completed by the next run; an archive this
command downloaded is deleted once its images are extracted (``--keep-archives`` keeps it). A
subset takes the images that the full folder or another subset of the same dataset already has
(checked against that folder's manifest where it records them) as hard links, or copies where the
disk allows no link, instead of downloading them again (COCO: image by image; Flickr30k: the
archive is fetched only for images found nowhere). A failed download and a full disk end the
command with one message; running it again resumes. At the end the folder is verified (every image
of every split present and readable).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from pathlib import Path


from ..digits import download_mnist, mnist_present
from ..files import write_text
from ..paths import data_dir
from .hub import (Manifest, PrepareError, disk_full, extract, fetch_hub_file, is_disk_full, partial_folder,
                  reuse_file)
from .karpathy import SPLIT_MEMBERS, image_path, karpathy_files, read_entries
from .urls import fetch_url, fetch_urls
from .verify import check_manifest, report, verify
from .sources import COCO_FILES, COCO_REPO, FLICKR30K_CSV, FLICKR30K_REPO, FLICKR30K_ZIP, coco_images, flickr30k_images

COCO_IMAGES = "http://images.cocodataset.org"  # <server>/<filepath>/<filename>; zips/<filepath>.zip
COCO_ARCHIVES = ("train2014", "val2014")  # 13 GB and 6 GB

FLICKR30K_TERMS = """\
Flickr30k terms of use. The images were collected from Flickr by the dataset's authors (P. Young,
A. Lai, M. Hodosh and J. Hockenmaier, "From image descriptions to visual denotations", TACL 2014);
their copyright stays with the Flickr users who took them. They are provided for non-commercial
research and education only: you may not use them commercially or redistribute them, and work that
uses them cites the paper above."""


def fetch_mnist(root: Path) -> None:
    """torchvision's four MNIST files into ``root/MNIST/raw`` unless they are there: downloaded
    (torchvision checks their MD5) into ``root/.mnist.partial`` and moved into place."""
    raw = root / "MNIST" / "raw"
    if mnist_present(root):
        return
    print(f"downloading MNIST into {raw} ...")
    partial = root / ".mnist.partial"
    try:
        download_mnist(partial)
    except RuntimeError as err:
        raise PrepareError(f"downloading MNIST failed ({err}); put torchvision's MNIST files "
                           f"into {raw}") from err
    raw.mkdir(parents=True, exist_ok=True)
    for file in (partial / "MNIST" / "raw").iterdir():
        if file.suffix != ".gz" and not (raw / file.name).exists():
            file.rename(raw / file.name)
    shutil.rmtree(partial)


def prepare_annotations(dataset: str, root: Path, endpoint: str | None = None) -> Path:
    """``root/dataset_<name>.json`` from the Hub's annotation files (downloaded into ``root`` and
    recorded in its manifest; checked against it when there). A JSON already there is kept, and
    without recorded annotation files it is taken as the user's own: nothing is fetched."""
    json_path = karpathy_files(root, dataset)[0]
    manifest = Manifest(root)
    repo, names = (COCO_REPO, COCO_FILES) if dataset == "coco" else (FLICKR30K_REPO, (FLICKR30K_CSV,))
    files = [fetch_hub_file(manifest, repo, name, endpoint) for name in names
             if not json_path.exists() or (root / name).exists()]
    manifest.save()
    if not json_path.exists():
        images = coco_images(files) if dataset == "coco" else flickr30k_images(files[0])
        write_text(json_path, json.dumps({"dataset": dataset, "images": images}))
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


def _entries(json_path: Path) -> list[dict]:
    return [entry for split in SPLIT_MEMBERS for entry in read_entries(json_path, split)[1]]


def unpack(manifest: Manifest, name: str, target: Path, keep_archive: bool,
           names: set[str] | None = None) -> None:
    """Extract the archive ``name`` of the manifest's folder as ``target``, then delete it when
    this command downloaded it, unless ``keep_archive``."""
    extract(manifest.folder / name, target, names)
    record = manifest.records[name]
    if record["downloaded"] and not keep_archive:
        (manifest.folder / name).unlink()
        record["removed"] = True
        manifest.save()
        print(f"deleted {name} after extracting it (--keep-archives keeps archives)")


def coco_archives(root: Path, keep_archives: bool) -> None:
    """COCO's 2014 images from its archives into ``root/images/{train2014,val2014}``."""
    manifest, image_root = Manifest(root), karpathy_files(root, "coco")[1]
    for part in COCO_ARCHIVES:
        if (image_root / part).is_dir():
            continue
        name, url = f"{part}.zip", f"{COCO_IMAGES}/zips/{part}.zip"
        if (root / name).is_file():
            manifest.check(name)
        else:
            print(f"downloading {url} ...")
            fetch_url(url, root / name)
            manifest.add(name, {"url": url})
        manifest.save()
        unpack(manifest, name, image_root / part, keep_archives)


def reusable_folders(root: Path, out: Path) -> list[Manifest]:
    """The prepared folders whose images a preparation of the subset ``out`` can take instead of
    downloading them: the full folder ``root`` and its other subsets (``<root name>_subset<N>``),
    those with an ``images`` folder, each as its manifest (read, never saved here)."""
    subsets = [p for p in root.parent.glob(f"{root.name}_subset*")
               if re.fullmatch(rf"{re.escape(root.name)}_subset\d+", p.name)]
    folders = [root, *sorted(subsets, key=lambda p: -int(p.name.rpartition("_subset")[2]))]
    return [Manifest(p) for p in folders if p != out and (p / "images").is_dir()]


def _taken(n: int, sources: list[Manifest], instead: str) -> None:
    if n:
        folders = ", ".join(str(m.folder) for m in sources)
        print(f"{n:,} images taken from {folders} (hard links or copies) instead of {instead}")


def coco_subset_images(out: Path, root: Path | None = None) -> None:
    """The images of the subset in ``out``: those there are checked against the manifest, those
    that the full folder ``root`` or another subset has are taken from there
    (:func:`reusable_folders`), the others are fetched from their URLs, in parallel. Images that
    could not be fetched are printed (and reported missing by the verification that follows)."""
    manifest, (json_path, image_root) = Manifest(out), karpathy_files(out, "coco")
    sources = reusable_folders(root, out) if root is not None else []
    urls, taken = {}, 0
    try:
        for entry in _entries(json_path):
            name = f"images/{image_path(entry)}"
            if (out / name).exists():
                manifest.check(name)
            elif (record := reuse_file(name, out / name, sources)) is not None:
                manifest.records[name] = {"file": name, **record}
                taken += 1
            else:
                urls[out / name] = entry.get("url") or f"{COCO_IMAGES}/{image_path(entry)}"
    finally:
        if taken:
            manifest.save()
    _taken(taken, sources, "downloading them")
    if not urls:
        return
    print(f"downloading {len(urls):,} images into {image_root} ...")
    try:
        failed = fetch_urls([(url, path) for path, url in urls.items()], done=lambda path: manifest.add(
            path.relative_to(out).as_posix(), {"url": urls[path]}))
    finally:
        manifest.save()
    if failed:
        print(f"{len(failed):,} images could not be downloaded (run the command again later), e.g.:")
        for line in failed[:5]:
            print(f"    {line}")


def flickr30k_images_from_archive(root: Path, out: Path, keep_archives: bool,
                                  endpoint: str | None = None) -> None:
    """Flickr30k's images into ``out/images`` from the archive on the Hub (downloaded into
    ``root``); for a subset (``out`` is not ``root``) only the subset's images, and those that the
    full folder or another subset has are taken from there: the archive is fetched only when some
    are found nowhere."""
    image_root = karpathy_files(out, "flickr30k")[1]
    if image_root.is_dir():
        return
    names = None
    if out != root:
        names = {e["filename"] for e in _entries(karpathy_files(out, "flickr30k")[0])}
        if reuse_extracted(names, image_root, reusable_folders(root, out)):
            return
    manifest = Manifest(root)
    fetch_hub_file(manifest, FLICKR30K_REPO, FLICKR30K_ZIP, endpoint)
    manifest.save()
    unpack(manifest, FLICKR30K_ZIP, image_root, keep_archives, names)


def reuse_extracted(names: set[str], image_root: Path, sources: list[Manifest]) -> bool:
    """The images ``names`` that ``sources`` have, put into the folder where :func:`extract`
    builds ``image_root`` (it completes that folder from the archive, keeping them); when every
    one was found, that folder is renamed to ``image_root`` and the result is ``True``."""
    partial = partial_folder(image_root)
    found = [name for name in sorted(names)
             if sources and reuse_file(f"images/{name}", partial / name, sources) is not None]
    _taken(len(found), sources, "extracting them from the archive")
    if not names or len(found) < len(names):
        return False
    partial.rename(image_root)
    return True


def run(args: argparse.Namespace) -> int:
    """The command (see the module doc); :class:`PrepareError` for a problem it explains."""
    if args.dataset == "mnist":
        fetch_mnist(data_dir())
        print(f"MNIST files in {data_dir() / 'MNIST' / 'raw'}")
        return 0
    root = (args.root or data_dir() / args.dataset).expanduser()
    out = root.parent / f"{root.name}_subset{args.subset}" if args.subset else root
    if not args.verify:
        if args.dataset == "flickr30k":
            print(FLICKR30K_TERMS)
            if not args.accept_flickr30k_terms:
                raise PrepareError("Flickr30k is downloaded only for use under the terms above: "
                                   "re-run with --accept-flickr30k-terms to accept them")
        fetch_mnist(data_dir())
        endpoint = os.environ.get("HF_ENDPOINT") or None  # huggingface_hub reads it only on import
        json_path = prepare_annotations(args.dataset, root, endpoint)
        if args.subset:
            make_subset(args.dataset, json_path, out, args.subset)
        if args.dataset == "flickr30k":
            flickr30k_images_from_archive(root, out, args.keep_archives, endpoint)
        elif args.subset:
            coco_subset_images(out, root)
        else:
            coco_archives(root, args.keep_archives)
    json_path, image_root = karpathy_files(out, args.dataset)
    print(f"verifying {json_path} and {image_root} ...")
    code = report(verify(json_path, image_root), image_root)
    if args.verify:  # a preparing run has checked the files it used already
        code |= check_manifest(out)
    print(f"data_root for the config: {out}")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=("coco", "flickr30k", "mnist"))
    parser.add_argument("--root", type=Path, default=None, help="default: $SVL_DATA_DIR/<dataset>")
    parser.add_argument("--subset", type=int, default=None, help="the first N images of each split")
    parser.add_argument("--verify", action="store_true", help="only check what is there")
    parser.add_argument("--keep-archives", action="store_true",
                        help="keep downloaded image archives after extracting them")
    parser.add_argument("--accept-flickr30k-terms", action="store_true",
                        help="accept Flickr30k's terms of use (printed by the command)")
    args = parser.parse_args(argv)
    if args.subset is not None and args.subset < 1:
        parser.error("--subset needs a positive number of images")
    try:
        return run(args)
    except (PrepareError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # a full disk anywhere else (a manifest, a split file, MNIST)
        if not is_disk_full(err):
            raise
        where = Path(err.filename).parent if err.filename else (args.root or data_dir())
        print(f"error: {disk_full(err, 'writing ' + str(err.filename or 'a file'), where)}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

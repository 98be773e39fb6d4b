"""Finished run folders as one zip to hand out: a teacher packs them, a student unpacks them, and the
notebooks then load those runs (train-or-load) instead of training them.

    python -m svl_lib.course.handout pack OUT.zip [FOLDERS ...] [--runs-dir DIR]
    python -m svl_lib.course.handout unpack IN.zip [--into DIR]

**Pack** takes the finished run folders (:func:`svl_lib.experiments.run_folders.run_status`) under ``FOLDERS``
(paths relative to the runs root, ``$SVL_RUNS_DIR``, e.g. ``01_toy_shortcuts``; default: all of
it), searched at any depth; unfinished and foreign folders are left out and listed. The zip holds
each run folder's :data:`PACKED_FILES` under its path relative to the runs root, and
:data:`MANIFEST`: ``{"format", "svl_lib", "folders": [...], "files": {path: {"size", "sha256"}}}``.
An existing ``OUT.zip`` is never overwritten.

**Unpack** checks the whole zip before writing anything, and a bad zip is one ``ValueError``
naming the problem: the manifest is there and of this format; every member is listed in it, is a
relative path without ``..`` whose file name is one of :data:`PACKED_FILES`, in a listed folder;
each folder has a ``config.json`` that :func:`svl_lib.experiments.run_folders.read_config` accepts (this schema, a
valid config) and a ``metrics.json`` with per-condition results under ``eval``; sizes and sha256
match. Then, per folder under ``--into`` (default ``$SVL_RUNS_DIR``): a new folder is written
into a temp folder beside it and renamed into place; in an existing folder, a file that is
already there with the same content is kept, a missing one is written (temp file, then rename;
``metrics.json`` last, so the run counts as finished only when complete); and **a folder where
an existing file differs is skipped whole, with a message: a user's file is never overwritten.**
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePosixPath

from ..config import ExperimentConfig
from ..files import atomic_write
from ..paths import runs_dir
from ..experiments.run_folders import BEST, CONFIG, HISTORY, METRICS, MODEL, SCHEMA, VALIDATION, run_status

MANIFEST = "svl_runs_manifest.json"
FORMAT = "svl-runs/1"
PACKED_FILES = (CONFIG, HISTORY, VALIDATION, MODEL, BEST, METRICS)  # metrics.json last: written last on unpack
REQUIRED = (CONFIG, METRICS)


def _svl_version() -> str:
    try:
        return version("svl_lib")
    except PackageNotFoundError:
        return "unknown"


def file_sha256(path: Path | str) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _member_sha256(archive: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    with archive.open(name) as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_path(name: str) -> PurePosixPath:
    """``name`` as a safe relative path (``ValueError`` for an absolute path, ``..``, ``.``, an
    empty part, a backslash or a colon, which would escape the target folder or break on Windows)."""
    path = PurePosixPath(name)
    if (not name or path.is_absolute() or "\\" in name or ":" in name
            or any(part in ("", ".", "..") for part in name.split("/"))):
        raise ValueError(f"unsafe path {name!r} in the zip: only relative run-folder paths are allowed")
    return path


def finished_runs(root: Path, folders: list[str] | None = None) -> tuple[list[Path], list[Path]]:
    """The finished run folders under ``root / folder`` for each of ``folders`` (default: all of
    ``root``), at any depth, and the run folders left out (unfinished or foreign)."""
    finished, skipped = [], []
    for name in folders or ["."]:
        start = root / name
        if not start.is_dir() or not start.resolve().is_relative_to(root.resolve()):
            raise FileNotFoundError(f"{name!r} is not a folder under the runs root {root}: name "
                                    "folders there, e.g. 01_toy_shortcuts")
        for here, subdirs, files in os.walk(start):
            here_path = Path(here)
            if CONFIG in files:
                (finished if run_status(here_path) == "finished" else skipped).append(here_path)
                subdirs.clear()  # run folders hold no run folders
            subdirs.sort()
    return sorted(set(finished)), sorted(set(skipped))


def pack(out_zip: Path | str, root: Path | str | None = None,
         folders: list[str] | None = None) -> dict:
    """Write the finished run folders under ``root`` (default ``$SVL_RUNS_DIR``) to ``out_zip``
    (never overwriting a file there); return the manifest, with ``"skipped"`` (folders left out)."""
    out, root = Path(out_zip), Path(root) if root is not None else runs_dir()
    if out.exists():
        raise FileExistsError(f"{out} already exists; nothing was written. Choose another name")
    runs, skipped = finished_runs(root, folders)
    if not runs:
        raise ValueError(f"no finished run folders under {root}"
                         f"{' in ' + ', '.join(folders) if folders else ''}: nothing to pack")
    manifest: dict = {"format": FORMAT, "svl_lib": _svl_version(), "folders": [], "files": {}}
    for run in runs:
        folder = run.relative_to(root).as_posix()
        check_path(folder)
        manifest["folders"].append(folder)
        for name in PACKED_FILES:
            if (run / name).is_file():
                manifest["files"][f"{folder}/{name}"] = {"size": (run / name).stat().st_size,
                                                         "sha256": file_sha256(run / name)}

    def write(file) -> None:
        with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for member in manifest["files"]:
                archive.write(root / member, member)
            archive.writestr(MANIFEST, json.dumps(manifest, indent=2))

    atomic_write(out, write)
    return {**manifest, "skipped": [p.relative_to(root).as_posix() for p in skipped]}


def _check_run(folder: str, config_text: bytes | None, metrics_text: bytes | None) -> None:
    """The config and metrics of one packed run folder parse with the expected keys."""
    for name, text in ((CONFIG, config_text), (METRICS, metrics_text)):
        if text is None:
            raise ValueError(f"{folder} in the zip has no {name}: not a finished run folder")
    try:
        config, metrics = json.loads(config_text), json.loads(metrics_text)
    except ValueError as error:
        raise ValueError(f"{folder} in the zip: a JSON file cannot be read ({error})") from None
    if not isinstance(config, dict) or config.pop("schema", None) != SCHEMA:
        raise ValueError(f"{folder}/config.json is not a run config of schema {SCHEMA}: the zip was "
                         "made by another svl_lib version; pack the runs with this version")
    try:
        ExperimentConfig.from_dict(config)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{folder}/config.json: {error}") from None
    results = metrics.get("eval") if isinstance(metrics, dict) else None
    if (not isinstance(results, dict) or not results
            or not all(isinstance(r, dict) and "rsum" in r for r in results.values())):
        raise ValueError(f"{folder}/metrics.json has no per-condition results under 'eval'")


def check_handout(archive: zipfile.ZipFile) -> tuple[list[str], dict[str, dict]]:
    """The checked folders and files (``path -> {"size", "sha256"}``) of an open handout zip;
    ``ValueError`` naming the first problem (see the module docstring)."""
    where = archive.filename or "the zip"
    names = archive.namelist()
    if MANIFEST not in names:
        raise ValueError(f"{where} has no {MANIFEST}: it was not made by python -m svl_lib.course.handout pack")
    try:
        manifest = json.loads(archive.read(MANIFEST))
    except ValueError:
        raise ValueError(f"{where}: {MANIFEST} cannot be read") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{where}: {MANIFEST} is not of format {FORMAT!r}")
    folders, listed = manifest.get("folders"), manifest.get("files")
    if (not isinstance(folders, list) or not isinstance(listed, dict)
            or not all(isinstance(v, dict) for v in listed.values())):
        raise ValueError(f"{where}: {MANIFEST} lacks its 'folders' list or 'files' table")
    if len(set(map(str, folders))) != len(folders):
        raise ValueError(f"{where}: {MANIFEST} lists a folder twice")
    for folder in folders:
        check_path(str(folder))
    members = [n for n in names if n != MANIFEST]
    if len(set(members)) != len(members):
        raise ValueError(f"{where} holds a file twice")
    for name in sorted(set(members) | set(listed)):
        path = check_path(name)
        if path.name not in PACKED_FILES or str(path.parent) not in folders:
            raise ValueError(f"{where}: {name!r} is not a run-folder file of a listed folder "
                             f"(allowed names: {', '.join(PACKED_FILES)})")
        if name not in listed or name not in members:
            raise ValueError(f"{where}: {name!r} is "
                             f"{'not in the manifest' if name not in listed else 'missing from the zip'}")
        if (archive.getinfo(name).file_size != listed[name].get("size")
                or _member_sha256(archive, name) != listed[name].get("sha256")):
            raise ValueError(f"{where}: {name} does not match its size or sha256 in the manifest "
                             "(a damaged or altered file)")
    for folder in folders:
        text = {n: archive.read(f"{folder}/{n}") if f"{folder}/{n}" in listed else None
                for n in REQUIRED}
        _check_run(folder, text[CONFIG], text[METRICS])
    return folders, listed


def unpack(in_zip: Path | str, into: Path | str | None = None) -> dict[str, str]:
    """Check the handout ``in_zip`` (nothing is written when it is bad), then write its run
    folders under ``into`` (default ``$SVL_RUNS_DIR``). Returns ``folder -> what happened``:
    ``"written"``, ``"already there"``, ``"completed"`` (missing files added) or ``"skipped: ..."``."""
    root = Path(into) if into is not None else runs_dir()
    try:
        archive = zipfile.ZipFile(in_zip)
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{in_zip} cannot be read as a zip ({error})") from None
    done = {}
    with archive:
        folders, listed = check_handout(archive)
        for folder in folders:
            target = root / folder
            wanted = [n for n in PACKED_FILES if f"{folder}/{n}" in listed]  # metrics.json last
            done[folder] = _unpack_folder(archive, folder, wanted, target, listed)
    return done


def _unpack_folder(archive: zipfile.ZipFile, folder: str, wanted: list[str], target: Path,
                   listed: dict[str, dict]) -> str:
    """Write one checked run folder to ``target`` (see :func:`unpack`); what happened."""
    def copy(name: str, file) -> None:
        with archive.open(f"{folder}/{name}") as source:
            shutil.copyfileobj(source, file)

    if target.exists() and not target.is_dir():
        return f"skipped: {target} is a file, not a folder"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        try:
            for name in wanted:
                with open(temp / name, "wb") as file:
                    copy(name, file)
            os.chmod(temp, 0o777 & ~_umask())  # mkdtemp makes 0700; give it the usual mode
            os.rename(temp, target)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)  # only the temp folder this call made
            raise
        return "written"
    differ = [n for n in wanted if (target / n).exists() and not (
        (target / n).is_file() and file_sha256(target / n) == listed[f"{folder}/{n}"]["sha256"])]
    if differ:
        return (f"skipped: {target} already holds a different {', '.join(differ)}; nothing in it "
                "was changed (move that folder away to take the handout's run)")
    missing = [n for n in wanted if not (target / n).exists()]
    for name in missing:
        atomic_write(target / name, lambda file, name=name: copy(name, file))
    return "completed" if missing else "already there"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m svl_lib.course.handout",
                                     description="Pack finished run folders into a zip to hand "
                                                 "out, or unpack one.")
    commands = parser.add_subparsers(dest="command", required=True)
    to_zip = commands.add_parser("pack", help="finished run folders -> OUT.zip")
    to_zip.add_argument("out", type=Path, metavar="OUT.zip")
    to_zip.add_argument("folders", nargs="*", metavar="FOLDERS",
                        help="folders under the runs root, e.g. 01_toy_shortcuts (default: all)")
    to_zip.add_argument("--runs-dir", type=Path, default=None, help="default: $SVL_RUNS_DIR")
    from_zip = commands.add_parser("unpack", help="IN.zip -> run folders")
    from_zip.add_argument("zip", type=Path, metavar="IN.zip")
    from_zip.add_argument("--into", type=Path, default=None, help="default: $SVL_RUNS_DIR")
    args = parser.parse_args(argv)
    try:
        if args.command == "pack":
            manifest = pack(args.out, args.runs_dir, args.folders or None)
            for folder in manifest["skipped"]:
                print(f"left out (not finished): {folder}")
            print(f"packed {len(manifest['folders'])} finished run folders "
                  f"({len(manifest['files'])} files) into {args.out}")
            return 0
        done = unpack(args.zip, args.into)
    except (ValueError, FileExistsError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for folder, what in done.items():
        print(f"{what}: {folder}", file=sys.stderr if what.startswith("skipped") else sys.stdout)
    skipped = sum(what.startswith("skipped") for what in done.values())
    print(f"unpacked {len(done) - skipped} of {len(done)} run folders into "
          f"{args.into or runs_dir()}")
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())

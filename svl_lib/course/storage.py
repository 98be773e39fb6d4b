"""What the machine holds, for the doctor (:mod:`svl_lib.course.doctor`): one report row
(:class:`Check`), the Python environment's size, the free disk where run folders and data live,
the run folders under ``$SVL_RUNS_DIR`` by status, and the datasets under ``$SVL_DATA_DIR`` with
their ``manifest.json``. Reads only; nothing is written.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .. import paths

MIN_FREE_GIB = 1.0  # notebooks 01-05 write about 65 small run folders (~1 MB each) and LTD targets


@dataclass
class Check:
    """One row of the report. ``ok`` False is a missing piece, ``None`` information only;
    ``needed`` marks what notebooks 01-05 need (a missing one makes the exit code 1); ``fix`` says
    what to install or do."""

    item: str
    ok: bool | None
    detail: str
    fix: str = ""
    needed: bool = False


def free_bytes(path: Path) -> int:
    """Free disk space on the file system that holds ``path`` (or its nearest existing parent)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def environment_bytes(prefix: Path) -> int:
    """Bytes of the files under ``prefix`` (links not followed)."""
    total = 0
    for folder, _, files in os.walk(prefix):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def check_environment(prefix: Path = Path(sys.prefix), base: Path = Path(sys.base_prefix)) -> Check:
    """The Python environment's size: a `.venv` with CUDA torch is about 6 GB, with CPU-only torch
    far less (docs/teaching.md's room install)."""
    if prefix == base:
        return Check("environment", None, f"not a virtual environment ({prefix})")
    return Check("environment", None, f"{environment_bytes(prefix) / 1e9:.1f} GB at {prefix}")


def check_disk() -> list[Check]:
    runs, data = paths.runs_dir(), paths.data_dir()
    free_runs, free_data = free_bytes(runs) / 2**30, free_bytes(data) / 2**30
    return [Check("free disk (runs)", free_runs >= MIN_FREE_GIB, f"{free_runs:.1f} GiB at {runs}",
                  f"free at least {MIN_FREE_GIB:.0f} GiB there, or set SVL_RUNS_DIR to a folder "
                  "on a disk with room", needed=True),
            Check("free disk (data)", None, f"{free_data:.1f} GiB at {data} (COCO needs about "
                  "20 GiB, a 1k subset about 0.5 GiB)")]


def count_runs(root: Path) -> dict[str, dict[str, int]]:
    """Run folders under ``root`` by top-level folder: ``{folder: {status: count}}``."""
    from ..experiments.run_folders import CONFIG, run_status

    counts: dict[str, dict[str, int]] = {}
    for config in root.rglob(CONFIG):
        top = config.parent.relative_to(root).parts[0] if config.parent != root else "."
        status = run_status(config.parent)
        counts.setdefault(top, {}).setdefault(status, 0)
        counts[top][status] += 1
    return counts


def check_runs() -> Check:
    root = paths.runs_dir()
    if not root.is_dir():
        return Check("SVL_RUNS_DIR", None, f"{root}: empty (nothing trained yet)")
    try:
        counts = count_runs(root)
    except ImportError:
        return Check("SVL_RUNS_DIR", None, f"{root}: cannot be read without torch")
    finished = {top: c.get("finished", 0) for top, c in sorted(counts.items()) if c.get("finished")}
    unfinished = sum(c.get("unfinished", 0) for c in counts.values())
    detail = f"{root}: {sum(finished.values())} finished run folders"
    if finished:
        detail += " (" + ", ".join(f"{top} {n}" for top, n in finished.items()) + ")"
    return Check("SVL_RUNS_DIR", None, detail + (f", {unfinished} unfinished" if unfinished else ""))


def manifest_files(path: Path) -> list[str]:
    """The file names a data ``manifest.json`` lists (a ``files`` list of names or of records with
    a ``file``, ``path`` or ``name``, or a mapping keyed by file); ``ValueError`` when unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} cannot be read ({type(error).__name__})") from None
    entries = data.get("files") if isinstance(data, dict) else data
    if isinstance(entries, dict):
        return [str(name) for name in entries]
    if not isinstance(entries, list):
        raise ValueError(f"{path} holds no list of files")
    names = []
    for entry in entries:
        record = entry if isinstance(entry, dict) else {"file": entry}
        names.append(str(next((record[k] for k in ("file", "path", "name") if k in record), "?")))
    return names


def dataset_status(folder: Path) -> str:
    """A prepared dataset folder's status from its ``manifest.json``."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        name, _, subset = folder.name.partition("_subset")
        command = f"python -m svl_lib.data.prepare {name}{f' --subset {subset}' if subset else ''}"
        return (f"{folder.name}: files but no manifest.json (put there by hand or by an older "
                f"version): {command} --verify")
    try:
        names = manifest_files(manifest)
    except ValueError as error:
        return f"{folder.name}: {error}"
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return f"{folder.name}: prepared ({len(names)} files: {shown})"


def check_data() -> list[Check]:
    root = paths.data_dir()
    present = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    checks = [Check("SVL_DATA_DIR", None, f"{root}: " + (", ".join(present) or "empty"))]
    for name in ("coco", "flickr30k"):
        folders = [root / n for n in present if n == name or n.startswith(f"{name}_subset")]
        checks.append(Check(f"{name} (06)", None,
                            "; ".join(map(dataset_status, folders)) or "not prepared (notebook 06 "
                            f"runs its stand-in): python -m svl_lib.data.prepare {name}"))
    return checks

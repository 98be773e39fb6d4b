"""Atomic file writes: every file the library writes goes through :func:`atomic_write`.

A file is written to a temporary name in its own folder (``.<name>.<random>.tmp``, unique per
call, so two writers never share a temp file) and renamed over the target in one step: a reader
sees the old file or the new one, never half of one, and a cut-off write leaves the target as it
was.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch


def atomic_write(path: Path | str, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(file)`` on a fresh temp file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: Path | str, text: str) -> Path:
    """Write ``text`` (UTF-8) atomically."""
    return atomic_write(path, lambda f: f.write(text.encode()))


def write_json(path: Path | str, data: Any) -> Path:
    """Write ``data`` as indented JSON atomically."""
    return write_text(path, json.dumps(data, indent=2))


def save_torch(path: Path | str, obj: Any) -> Path:
    """``torch.save(obj)`` atomically."""
    return atomic_write(path, lambda f: torch.save(obj, f))

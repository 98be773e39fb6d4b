"""Where data and run folders live.

``SVL_DATA_DIR`` holds downloaded datasets (MNIST, COCO, Flickr30k) and ``SVL_RUNS_DIR`` holds run
folders. Both default to git-ignored folders inside the repository checkout (``data/local`` and
``runs``) or, for an installed package outside a checkout, to ``~/.cache/svl/{data,runs}``.
"""
from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_PARENT = Path(__file__).resolve().parent.parent


def _in_checkout() -> bool:
    return (_PACKAGE_PARENT / "pyproject.toml").is_file()


def data_dir() -> Path:
    """The data root: ``$SVL_DATA_DIR`` or the default (not created here)."""
    env = os.environ.get("SVL_DATA_DIR")
    if env:
        return Path(env).expanduser()
    if _in_checkout():
        return _PACKAGE_PARENT / "data" / "local"
    return Path.home() / ".cache" / "svl" / "data"


def runs_dir() -> Path:
    """The root of run folders: ``$SVL_RUNS_DIR`` or the default (not created here)."""
    env = os.environ.get("SVL_RUNS_DIR")
    if env:
        return Path(env).expanduser()
    if _in_checkout():
        return _PACKAGE_PARENT / "runs"
    return Path.home() / ".cache" / "svl" / "runs"


def figures_dir() -> Path:
    """Where notebooks save their figures: ``$SVL_FIGURES_DIR`` or ``outputs/figures`` (created)."""
    env = os.environ.get("SVL_FIGURES_DIR")
    base = Path(env).expanduser() if env else (
        _PACKAGE_PARENT / "outputs" / "figures" if _in_checkout() else Path.cwd() / "figures")
    base.mkdir(parents=True, exist_ok=True)
    return base


def hub_online() -> bool:
    """Whether model hubs (Hugging Face, open_clip's weights) may be asked for files: not when
    ``HF_HUB_OFFLINE`` is set."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in ("1", "true", "yes", "on")

"""Progress bars: shown unless running in CI (``CI`` set) or ``SVL_QUIET`` is set."""
from __future__ import annotations

import os


def show_progress() -> bool:
    """Whether progress bars are shown by default."""
    return not (os.environ.get("CI") or os.environ.get("SVL_QUIET"))

"""Shared test settings: offline, quiet, and run folders isolated from the user's.

Every test session gets its own ``SVL_RUNS_DIR``: ``SVL_TEST_RUNS_DIR`` when set (``make test``
sets it, so that nbval reuses the run folders the notebook tests trained), else a fresh temporary
folder. A user's ``SVL_RUNS_DIR`` (or the checkout's ``runs/``) is never read or written by tests.
"""
import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("SVL_QUIET", "1")
USER_RUNS_DIR = os.environ.get("SVL_RUNS_DIR")
os.environ["SVL_RUNS_DIR"] = (os.environ.get("SVL_TEST_RUNS_DIR")
                              or tempfile.mkdtemp(prefix="svl-test-runs-"))

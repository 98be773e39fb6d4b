"""Shared test settings: offline, quiet, small thread count."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("SVL_QUIET", "1")

"""The GPU acceptance script's smoke run (tiny models, CPU) prints its table with every row and
judges every goal."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_acceptance.py"


def test_smoke_run_prints_every_row_and_goal() -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    from gpu_acceptance import ROWS

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(SCRIPT.parents[1])}
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke"], capture_output=True, text=True,
                          env=env, cwd=SCRIPT.parents[1], timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    for row in ROWS:
        assert any(line.startswith(row + " ") for line in lines), f"row {row!r} missing:\n{done.stdout}"
    assert "resumed from step 12: losses and metrics identical" in done.stdout
    assert "under bf16 autocast: float32" in done.stdout
    goals = [line.split()[0] for line in lines[lines.index(
        "goals (not judged in a smoke run)") + 1:]]
    assert len(goals) == 4 and set(goals) <= {"PASS", "FAIL"}

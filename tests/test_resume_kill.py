"""SIGKILL a training run of a tiny real-path configuration (VSE++ with random crops, two
DataLoader workers, a checkpoint every 3 steps) in the middle of an epoch, resume it, and get the
uninterrupted run's metrics exactly."""
import json
import signal
import subprocess
import sys

import pytest

from svl_lib.config import ExperimentConfig
from svl_lib.data.toy import ToyWorld, export_karpathy
from svl_lib.experiments.experiment import run_experiment
from svl_lib.experiments.run_folders import run_status

pytestmark = pytest.mark.slow


def test_sigkill_mid_epoch_then_resume_equals_the_uninterrupted_run(tmp_path) -> None:
    export_karpathy(ToyWorld(n_train=64, n_val=8, n_test=20, image_size=224, seed=0),
                    tmp_path / "coco", dataset="coco")
    config = ExperimentConfig(dataset="coco", data_root=str(tmp_path / "coco"), model="vse",
                              arch="tiny", embed_dim=32, epochs=2, batch_size=32, lr=1e-3,
                              shortcut_mode="unique", probes=False, num_workers=2,
                              checkpoint_every=3)  # 10 steps per epoch
    straight = run_experiment(config, tmp_path / "straight", progress=False)

    out = tmp_path / "killed"
    script = """
import json, os, signal, sys
from svl_lib.config import ExperimentConfig
from svl_lib.experiments.experiment import run_experiment
from svl_lib.train.objectives import Objective

calls, original = [0], Objective.after_step
def after_step(self):  # SIGKILL in the 14th step (epoch 2), after the checkpoint of step 12
    calls[0] += 1
    if calls[0] == 14:
        os.kill(os.getpid(), signal.SIGKILL)
    original(self)
Objective.after_step = after_step
run_experiment(ExperimentConfig.from_dict(json.loads(sys.argv[1])), sys.argv[2], progress=False)
"""
    child = subprocess.run([sys.executable, "-c", script, json.dumps(config.to_dict()), str(out)])
    assert child.returncode == -signal.SIGKILL
    history = out / "history.jsonl"
    assert run_status(out) == "unfinished" and len(history.read_text().splitlines()) == 13

    resumed = run_experiment(config, out, resume=True, progress=False)
    assert resumed["resumed_from_step"] == 12
    assert resumed["eval"] == straight["eval"]
    assert [json.loads(line)["step"] for line in history.read_text().splitlines()] == list(range(20))
    assert not (out / "train_state.pt").exists() and not (out / "train_state.prev.pt").exists()

"""Grid points as a submitit job array, run here by submitit's local executor: the jobs write the
same run folders, with the same results, as a local sweep; submitting again skips what finished."""
import pytest

from svl_lib.experiments.cluster import submit_plan
from svl_lib.experiments.experiment import run_experiment
from svl_lib.experiments.run_folders import run_status
from svl_lib.experiments.sweep import main
from svl_lib.experiments.plan import plan_sweep

pytestmark = pytest.mark.slow
from tiny import tiny_config

TINY = tiny_config(probes=False)


def test_a_job_array_writes_the_same_run_folders_as_a_local_sweep(tmp_path, capsys) -> None:
    plan = plan_sweep(TINY, {"shortcut_mode": ["none", "unique"]}, tmp_path / "sweep")
    jobs = submit_plan(plan, tmp_path / "jobs", cluster="local", timeout_min=10, gpus_per_node=0)
    assert len(jobs) == 2
    results = [job.result() for job in jobs]
    for (folder, config), metrics in zip(plan, results):
        assert run_status(folder) == "finished"
        assert metrics["eval"] == run_experiment(config, tmp_path / "local" / folder.name)["eval"]
    assert submit_plan(plan, tmp_path / "jobs", cluster="local") == []  # all finished
    args = ["--out", str(tmp_path / "sweep"), "--grid", "shortcut_mode=none,unique", "--set",
            *(f"{k}={v}" for k, v in TINY.to_dict().items() if k in {"n_train", "n_val", "n_test", "epochs",
                                                                     "batch_size", "warmup_steps", "probes"}),
            "--cluster", "local", "--cluster-set", "timeout_min=10"]
    assert main(args) == 0  # the command line: nothing left to submit
    assert capsys.readouterr().out.startswith("submitted 0 of 2 points")

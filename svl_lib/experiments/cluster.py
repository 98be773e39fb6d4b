"""Sweeps on a SLURM cluster through submitit: one job per grid point, submitted as one job array
(as the paper's SLURM job arrays), one GPU each, writing the same run folders as a local sweep.

Jobs are resumable twice over: a job that SLURM pre-empts or times out is requeued by submitit and
continues from its run's last training state (``run_experiment(..., resume=True)``), and submitting
the sweep again submits only the points that have not finished. ``cluster="local"`` runs the jobs
as local processes (what the tests use); ``None`` picks SLURM where it is installed.

    python -m svl_lib.experiments.sweep --grid-file clip_bits --out runs/clip_bits --cluster slurm \\
        --cluster-set slurm_partition=gpu timeout_min=720 cpus_per_task=8
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import ExperimentConfig
from .checkpoints import init_source
from .experiment import run_experiment
from .run_folders import run_status

DEFAULTS = {"gpus_per_node": 1, "tasks_per_node": 1, "nodes": 1, "timeout_min": 24 * 60}


def _submitit():
    try:
        import submitit
    except ImportError:
        raise ImportError("cluster sweeps need submitit: pip install 'svl_lib[cluster]'") from None
    return submitit


def run_point(config: dict[str, Any], folder: str) -> dict[str, Any]:
    """One grid point, as a job: train, resume or load its run folder; return its metrics."""
    return run_experiment(ExperimentConfig.from_dict(config), folder, resume=True, progress=False)


def source_finished(folder: Path | str, config: ExperimentConfig) -> bool:
    """Whether the run ``config`` fine-tunes (its ``init_from``, relative to ``folder``'s parent)
    has finished; true for a run that starts from scratch."""
    return config.init_from is None or run_status(init_source(folder, config.init_from)) == "finished"


def submit_plan(plan: list[tuple[Path, ExperimentConfig]], log_folder: Path | str,
                cluster: str | None = None, **parameters: Any) -> list:
    """Submit every point of ``plan`` (from :func:`svl_lib.experiments.plan.plan_sweep`) that has not
    finished, and whose ``init_from`` run has (:func:`source_finished`), as one job array; return
    the submitit jobs (``job.result()`` waits for the metrics).
    ``parameters`` go to ``executor.update_parameters`` over :data:`DEFAULTS` (e.g.
    ``slurm_partition``, ``timeout_min``, ``cpus_per_task``, ``mem_gb``)."""
    submitit = _submitit()

    class RunPoint(submitit.helpers.Checkpointable):
        """Requeued with the same arguments when pre-empted or timed out: the run resumes."""

        def __call__(self, config: dict[str, Any], folder: str) -> dict[str, Any]:
            return run_point(config, folder)

    todo = [(folder, config) for folder, config in plan
            if run_status(folder) != "finished" and source_finished(folder, config)]
    if not todo:
        return []
    executor = submitit.AutoExecutor(folder=str(log_folder), cluster=cluster)
    executor.update_parameters(**{**DEFAULTS, "name": Path(todo[0][0]).parent.name or "svl", **parameters})
    return executor.map_array(RunPoint(), [config.to_dict() for _, config in todo],
                              [str(folder) for folder, _ in todo])

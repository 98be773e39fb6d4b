"""Run folders: the record of one experiment, and the rules that keep users' files safe.

A run folder holds only these files of its own (:data:`RUN_FILES`), each written atomically
(:mod:`svl_lib.files`):

    config.json      the config, with ``"schema"`` (written first)
    history.jsonl    one line per training step
    train_state.pt   the newest training state, for resuming (removed at the end), and
    train_state.prev.pt  the one before it (used when the newest is truncated)
    model.pt         plain ``state_dict`` + config + the model's rebuild info (after the last epoch)
    validation.jsonl, model_best.pt  with ``validate``: clean validation RSUM per epoch, the best model
    metrics.json     evaluation per condition (written last: a folder without it did not finish)

Statuses (:func:`run_status`): ``missing`` (no folder, or an empty one), ``finished``,
``unfinished`` (a readable config of this schema, no readable metrics) and ``foreign`` (anything
else: a folder of other files, a config that cannot be read, a run of an older schema).

**Nothing a run did not write is ever deleted.** :func:`plan_run_folder` refuses a foreign
folder or one holding another config, unless ``overwrite``; and then :func:`start_run_folder`
removes only the files of :data:`RUN_FILES` (and their temp files), never anything else.

``python -m svl_lib.course.handout pack OUT.zip [FOLDERS]`` and ``unpack IN.zip`` hand finished run
folders out as one zip (:mod:`svl_lib.course.handout`).
"""
from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any, Literal, TextIO

import torch

from ..config import ExperimentConfig
from ..files import save_torch, write_json, write_text

SCHEMA = 2
CONFIG, HISTORY, STATE, MODEL = "config.json", "history.jsonl", "train_state.pt", "model.pt"
VALIDATION, BEST, METRICS = "validation.jsonl", "model_best.pt", "metrics.json"
RUN_FILES = (CONFIG, HISTORY, STATE, "train_state.prev.pt", MODEL, VALIDATION, BEST, METRICS)
RunStatus = Literal["missing", "finished", "unfinished", "foreign"]
RunAction = Literal["train", "retrain", "resume", "load", "evaluate"]  # what plan_run_folder decides
STATUSES: tuple[RunStatus, ...] = typing.get_args(RunStatus)
WRITES_CONFIG: tuple[RunAction, ...] = ("train", "retrain", "resume")  # the actions that (re)start training


def keyed_folder(root: Path | str, name: str, config: ExperimentConfig) -> Path:
    """``root / "<name>-<config.key()>"``: a readable name plus the hash of the fields that define
    training, so that a changed parameter gets its own run folder and an unchanged one reuses its
    run. The name is made folder-friendly: ``+`` becomes ``plus`` and spaces ``_``
    (``"InfoNCE + unique shortcut"`` -> ``InfoNCE_plus_unique_shortcut-1a2b3c4d``). ``config`` is
    resolved (:func:`svl_lib.experiments.registries.resolve`)."""
    slug = "_".join(name.replace("+", "plus").split())
    return Path(root) / f"{slug}-{config.key()}"


def read_config(run_dir: Path | str) -> ExperimentConfig:
    """The config of a run folder; ``ValueError`` when there is none of this schema."""
    path = Path(run_dir) / CONFIG
    try:
        values = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} cannot be read ({type(error).__name__})") from None
    if not isinstance(values, dict) or values.pop("schema", None) != SCHEMA:
        raise ValueError(f"{path} is not a run config of schema {SCHEMA} (written by another "
                         "version of svl_lib, or not by svl_lib)")
    try:
        return ExperimentConfig.from_dict(values)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None


def read_metrics(run_dir: Path | str) -> dict[str, Any]:
    """The ``metrics.json`` of a finished run; ``ValueError`` when it is missing or unreadable."""
    path = Path(run_dir) / METRICS
    try:
        metrics = json.loads(path.read_text())
        metrics["eval"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is missing or unreadable ({type(error).__name__})") from None
    return metrics


def run_status(run_dir: Path | str) -> RunStatus:
    """One of :data:`STATUSES` (see the module docstring)."""
    out = Path(run_dir)
    if not out.is_dir() or not any(out.iterdir()):
        return "missing"
    try:
        read_config(out)
    except ValueError:
        return "foreign"
    try:
        read_metrics(out)
    except ValueError:
        return "unfinished"
    return "finished"


def write_config(run_dir: Path, config: ExperimentConfig) -> None:
    write_json(run_dir / CONFIG, {"schema": SCHEMA, **config.to_dict()})


def read_config_values(run_dir: Path | str) -> dict[str, Any]:
    """``config.json`` as written (with ``"schema"``), for tables of runs."""
    return json.loads((Path(run_dir) / CONFIG).read_text())


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> None:
    """``metrics.json``, written last: the run is finished once it is there."""
    write_json(run_dir / METRICS, metrics)


def save_model(run_dir: Path, model: Any, config: ExperimentConfig, epoch: int | None = None) -> None:
    """The model's ``state_dict``, config and rebuild info: ``model.pt`` (after training), or with
    ``epoch`` the best model on validation so far, ``model_best.pt``."""
    state = {"state_dict": model.state_dict(), "config": config.to_dict(), "rebuild": model.rebuild_info()}
    save_torch(run_dir / (MODEL if epoch is None else BEST), state if epoch is None else {**state, "epoch": epoch})


def read_model(run_dir: Path | str, best: bool = False) -> dict[str, Any]:
    """What :func:`save_model` wrote (on the CPU); ``FileNotFoundError`` when the run has none."""
    path = Path(run_dir) / (BEST if best else MODEL)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: the run did not finish training")
    return torch.load(path, map_location="cpu", weights_only=True)


def state_path(run_dir: Path) -> Path:
    """Where the training state of a run is saved (:mod:`svl_lib.train.state`)."""
    return run_dir / STATE


def history_log(run_dir: Path) -> TextIO:
    """``history.jsonl`` opened to append, line-buffered: a kill loses no finished step."""
    return open(run_dir / HISTORY, "a", buffering=1)


def read_validation(run_dir: Path) -> list[dict[str, Any]]:
    """The records of ``validation.jsonl`` (none when the run has not validated yet)."""
    path = run_dir / VALIDATION
    return [json.loads(line) for line in path.read_text().splitlines() if line] if path.is_file() else []


def write_validation(run_dir: Path, records: list[dict[str, Any]]) -> None:
    write_text(run_dir / VALIDATION, "".join(json.dumps(r) + "\n" for r in records))


def append_validation(run_dir: Path, record: dict[str, Any]) -> None:
    with open(run_dir / VALIDATION, "a") as log:
        log.write(json.dumps(record) + "\n")


def remove_run_files(run_dir: Path) -> list[str]:
    """Delete the run's own files (:data:`RUN_FILES` and their temp files) from ``run_dir``;
    return the names removed. Every other file stays."""
    removed = []
    for name in RUN_FILES:
        for path in [run_dir / name, *run_dir.glob(f".{name}.*.tmp")]:
            if path.is_file():
                path.unlink()
                removed.append(path.name)
    return removed


def plan_run_folder(run_dir: Path | str, config: ExperimentConfig, overwrite: bool = False,
                    resume: bool = False) -> RunAction:
    """What to do with ``run_dir`` for ``config``, touching nothing: ``"train"`` (an empty or
    missing folder), ``"retrain"`` (``overwrite``: replace the run's files), ``"resume"`` (an
    unfinished run of the same identity), ``"load"`` (a finished one with the same evaluation
    fields) or ``"evaluate"`` (finished, evaluation fields changed: evaluate its model again).

    Without ``overwrite``, a foreign folder or a run of another identity is a ``FileExistsError``
    naming the folder, and so is an existing run of the same identity unless ``resume``.
    """
    out = Path(run_dir)
    status = run_status(out)
    if status == "missing":
        return "train"
    if overwrite:
        return "retrain"
    if status == "foreign":
        raise FileExistsError(
            f"{out} holds files that are not a run of this svl_lib version (no readable "
            f"config.json of schema {SCHEMA}); nothing was changed. Choose another folder, or "
            "pass overwrite=True to replace the run files in it (other files are kept)")
    saved = read_config(out)
    if saved.identity() != config.identity():
        changed = sorted(k for k, v in config.identity().items() if saved.identity()[k] != v)
        raise FileExistsError(
            f"run folder {out} holds a different config (differs in {', '.join(changed)}); "
            "nothing was changed. Choose another folder, or pass overwrite=True to replace its "
            "run files")
    if not resume:
        raise FileExistsError(f"run folder {out} already exists ({status}); pass resume=True to "
                              "continue or load it, overwrite=True to replace it, or choose "
                              "another folder")
    if status == "unfinished":
        return "resume"
    same_eval = all(getattr(saved, k) == getattr(config, k)
                    for k in ("eval_split", "eval_conditions", "probes"))
    return "load" if same_eval else "evaluate"


def start_run_folder(run_dir: Path | str, config: ExperimentConfig, action: RunAction) -> None:
    """Carry out the writing part of :func:`plan_run_folder`'s ``action``: remove the run's own
    files for ``"retrain"``, and write ``config.json`` before training or resuming."""
    out = Path(run_dir)
    if action == "retrain":
        remove_run_files(out)
    if action in WRITES_CONFIG:
        out.mkdir(parents=True, exist_ok=True)
        write_config(out, config)


def trim_history(run_dir: Path, keep_steps: int) -> None:
    """Keep the history lines of the first ``keep_steps`` steps (what a resumed state includes);
    drop a cut-off epoch's lines and a half-written last line."""
    path = run_dir / HISTORY
    lines = path.read_text().splitlines() if path.is_file() else []
    kept = []
    for line in lines:
        try:
            if json.loads(line)["step"] < keep_steps:
                kept.append(line)
        except (ValueError, KeyError):
            break
    write_text(path, "".join(f"{line}\n" for line in kept))


def read_history(run_dir: Path | str) -> list[dict[str, Any]]:
    """The records of ``history.jsonl``; ``FileNotFoundError`` when the run has none."""
    path = Path(run_dir) / HISTORY
    if not path.is_file():
        raise FileNotFoundError(f"no training history at {path}")
    return [json.loads(line) for line in path.read_text().splitlines() if line]

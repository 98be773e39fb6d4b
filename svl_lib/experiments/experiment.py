"""One experiment = one validated config -> one run folder (layout and rules:
:mod:`svl_lib.experiments.run_folders`).

:func:`run_experiment` resolves the config (:func:`svl_lib.experiments.registries.resolve`), plans the folder,
builds the data (every shortcut injector, :func:`svl_lib.experiments.run_data.build_data`) and the model, its
dataset and objective through the registries (:func:`build_training`), all before anything is
written or trained; then trains (:func:`train_run`), evaluates under the shortcut conditions and
probes (:func:`finish_run`). :func:`run_or_load` is the notebooks' train-or-load.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..config import ExperimentConfig
from ..data import DATASETS, load_split
from ..data.loading import CaptionDataset
from ..distributed import barrier, is_main, launched, setup
from ..evaluate.conditions import chance_level, encode_conditions, evaluate
from ..models import ContrastiveModel, build_model
from ..train.objectives import LTDObjective, Objective, build_objective, reconstruction_on_split, save_targets
from ..evaluate.probes import probe_model
from .checkpoints import initial_model, load_model
from .registries import resolve
from .run_data import RunData, build_data
from .run_folders import (BEST, RunAction, append_validation, history_log, plan_run_folder, read_history,
                          read_metrics, read_validation, save_model, start_run_folder, state_path,
                          trim_history, write_config, write_metrics, write_validation)
from ..train.state import latest_train_state, previous_state
from ..train.devices import pick_device, seed_everything
from ..train.loop import TrainSettings, train


def for_processes(model: ContrastiveModel, config: ExperimentConfig) -> ContrastiveModel:
    """With several processes and ``config.sync_batchnorm``, the model's batch norms normalise
    over the global batch (``SyncBatchNorm``, same parameters and state_dict keys); else as is."""
    if config.sync_batchnorm and launched():
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def run_experiment(config: ExperimentConfig | dict, out_dir: Path | str, overwrite: bool = False,
                   resume: bool = False, progress: bool | None = None) -> dict[str, Any]:
    """Train and evaluate one configuration; write and return its metrics.

    An existing run folder is an error unless ``overwrite`` (its run files are replaced, other
    files kept) or ``resume``: then a finished run of the same identity is returned as it is (or
    re-evaluated from its ``model.pt`` when only evaluation fields changed), and an unfinished one
    continues from its last saved state. A foreign folder or another config is always an
    error without ``overwrite`` (:func:`svl_lib.experiments.run_folders.plan_run_folder`). Started by ``torchrun`` or
    ``accelerate launch`` with several processes, they train together
    (:mod:`svl_lib.distributed`) and only the main process writes the folder.
    """
    config = resolve(config if isinstance(config, ExperimentConfig) else ExperimentConfig.from_dict(config))
    out = Path(out_dir)
    action = plan_run_folder(out, config, overwrite=overwrite, resume=resume)
    if action == "load":
        return read_metrics(out)
    data = build_data(config)  # every injector is built before the folder is written
    device = setup(cpu=config.device == "cpu") if launched() else pick_device(config.device)
    barrier()  # every process has planned before the main one writes
    if action == "evaluate":
        return reevaluate(out, config, data, device)
    model, dataset, objective = build_training(config, data, out, device, progress)
    if is_main():
        start_run_folder(out, config, action)
    done_steps, train_seconds = train_run(out, config, model, dataset, objective, action, progress)
    if not is_main():
        barrier()  # the main process evaluates and writes the metrics
        return read_metrics(out)
    metrics = finish_run(out, config, model, objective, data, {
        "train_seconds": round(train_seconds, 2), "resumed_from_step": done_steps}, device)
    barrier()
    return metrics


def reevaluate(out: Path, config: ExperimentConfig, data: RunData, device: torch.device) -> dict[str, Any]:
    """A finished run whose evaluation fields changed: its ``model.pt`` evaluated again (by the
    main process), the new results over the old ones (probes replaced) and the new config."""
    if is_main():
        start_run_folder(out, config, "evaluate")
        metrics = {k: v for k, v in read_metrics(out).items() if k != "probes"}
        metrics.update(evaluate_run(load_model(out, device), config, data))
        write_metrics(out, metrics)
        write_config(out, config)
    barrier()
    return read_metrics(out)


def build_training(config: ExperimentConfig, data: RunData, out: Path, device: torch.device,
                   progress: bool | None) -> tuple[ContrastiveModel, CaptionDataset, Objective]:
    """The model (fresh, seeded, or from ``init_from``), its training dataset and its objective,
    built before the run folder is written, so that an unknown model, weights that cannot be had
    or a batch larger than the split fail first."""
    seed_everything(config.seed)
    model = (build_model(config, data.train) if config.init_from is None
             else initial_model(config, out))
    model = for_processes(model, config).to(device)
    dataset = CaptionDataset(data.train, data.train_injector, *model.image_transform(train=True),
                             seed=config.seed)
    if len(dataset) < config.batch_size:
        raise ValueError(f"batch_size={config.batch_size} is larger than the {len(dataset):,} "
                         f"training items of {config.dataset}: lower batch_size")
    return model, dataset, build_objective(config, dataset, progress, embed_dim=model.embed_dim)


def train_run(out: Path, config: ExperimentConfig, model: ContrastiveModel, dataset: CaptionDataset,
              objective: Objective, action: RunAction, progress: bool | None) -> tuple[int, float]:
    """Train (from the saved state when ``action`` is ``"resume"``); the main process logs the
    history and validates. Returns the step training started from and its seconds."""
    saved_state = state_path(out)
    state = latest_train_state(saved_state) if action == "resume" else None
    done_steps = state["step"] if state is not None else 0
    settings = TrainSettings.from_config(config)
    started = time.perf_counter()
    if not is_main():
        train(model, dataset, settings, objective=objective, progress=False, state_path=saved_state)
        return done_steps, time.perf_counter() - started
    trim_history(out, done_steps)
    validate = (validator(model, config, out, done_steps // (len(dataset) // config.batch_size))
                if config.validate else None)
    with history_log(out) as log:
        train(model, dataset, settings, objective=objective, progress=progress,
              on_step=lambda record: log.write(json.dumps(record) + "\n"), state_path=saved_state,
              on_epoch_end=validate)
    return done_steps, time.perf_counter() - started


def finish_run(out: Path, config: ExperimentConfig, model: ContrastiveModel, objective: Objective,
               data: RunData, trained: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """After training (main process): ``model.pt`` saved; the metrics of the trained model
    (evaluation, ``trained``'s facts, the history's last values, LTD's reconstruction, the best
    validation epoch) written; then the training states removed."""
    save_model(out, model, config)
    history = read_history(out)
    metrics = {**evaluate_run(model, config, data), **trained, "steps": len(history),
               "final_loss": history[-1]["loss"], "final_logit_scale": history[-1]["logit_scale"],
               "device": str(device)}
    if isinstance(objective, LTDObjective):
        metrics["ltd_rec"] = ltd_reconstruction(model, objective, config, data)
    if config.init_from is not None and config.init_parts == "all":
        metrics["start"] = start_scores(config, out, data, device)
    if config.validate:
        best = max(read_validation(out), key=lambda r: r["clean_rsum"])
        metrics["best_on_validation"] = {"epoch": best["epoch"], "clean_rsum": best["clean_rsum"],
                                         "file": BEST}
    write_metrics(out, metrics)  # the run is finished: its states are no longer needed
    state_path(out).unlink(missing_ok=True)
    previous_state(state_path(out)).unlink(missing_ok=True)
    return metrics


def validator(model: ContrastiveModel, config: ExperimentConfig, out: Path,
              first_epoch: int) -> Callable[[int], None]:
    """``on_epoch_end`` of a run with ``validate``: the clean RSUM of the validation split goes to
    ``validation.jsonl`` and the best model so far to ``model_best.pt``. Epochs from
    ``first_epoch`` on are dropped from the file first (a resumed run redoes them). It leaves the
    RNG as it was, so validating never changes training."""
    val = load_split(config, "val")
    kept = [r for r in read_validation(out) if r["epoch"] < first_epoch]
    write_validation(out, kept)
    best = max((r["clean_rsum"] for r in kept), default=float("-inf"))

    def validate(epoch: int) -> None:
        nonlocal best
        with torch.random.fork_rng(devices=[]):
            rsum = evaluate(model, val, None, ("clean",), *model.image_transform(),
                            num_workers=config.num_workers)["clean"]["rsum"]
        append_validation(out, {"epoch": epoch, "clean_rsum": rsum})
        if rsum > best:
            best = rsum
            save_model(out, model, config, epoch=epoch)
    return validate


def evaluate_run(model: ContrastiveModel, config: ExperimentConfig, data: RunData) -> dict[str, Any]:
    """Retrieval under ``config.eval_conditions`` on the evaluation split, the chance level, the
    glyph banks used and (when ``config.probes``) the linear probes."""
    features = encode_conditions(model, data.eval, data.eval_injector, config.eval_conditions,
                                 *model.image_transform(), num_workers=config.num_workers)
    metrics: dict[str, Any] = {
        "eval": features.score(),
        "eval_protocol": f"all {data.eval.n_images:,} {config.eval_split} images",
        "chance": chance_level(data.eval),
        "eval_split": config.eval_split,
        "glyph_bank": data.banks[0].name,
        "glyphs": {"train": len(data.banks[0]), "eval": len(data.banks[1])},
    }
    weights = model.rebuild_info().get("image_weights")
    if weights is not None:  # what the image tower started from (pretrained models)
        metrics["image_weights"] = weights
    folds = DATASETS[config.dataset].eval_folds
    if folds > 1:  # a second protocol (COCO: five folds of 1k test images, averaged)
        metrics[f"eval_{folds}fold"] = features.score(folds=folds)
        metrics[f"eval_{folds}fold_protocol"] = (f"{folds} folds of {data.eval.n_images // folds:,} "
                                                 f"{config.eval_split} images, averaged")
    if config.probes and data.train.labels:
        metrics["probes"] = probe_model(model, data.train, data.eval,
                                        (data.probe_injector, data.eval_injector), config.seed)
    return metrics


LTD_REC_IMAGES = 500  # ltd_rec: the captions of this many images of each split (the toy's test split)


def ltd_reconstruction(model: ContrastiveModel, objective: LTDObjective, config: ExperimentConfig,
                       data: RunData) -> dict[str, float]:
    """``metrics["ltd_rec"]``: the trained decoder's mean ``L_rec`` on the clean captions of the
    first :data:`LTD_REC_IMAGES` images of the ``"train"`` and the held-out ``"test"`` split
    (:func:`~svl_lib.train.objectives.reconstruction_on_split`), whatever ``eval_split`` is; and, where
    the run has a shortcut and evaluates on the test split, on the same captions *with* their
    evaluation shortcut (``train_shortcut``: the probes' injector of the train split;
    ``test_shortcut``: the evaluation injector). A decoder that memorised training targets through
    the number gains from the digits on training captions only. Targets encoded for it are kept
    in the target cache file; the RNG is left as it was."""
    test = data.eval if config.eval_split == "test" else load_split(config, "test")
    parts = [("train", data.train, None), ("test", test, None)]
    if config.shortcut_mode != "none" and config.eval_split == "test" and data.probe_injector is not None:
        parts += [("train_shortcut", data.train, data.probe_injector), ("test_shortcut", test, data.eval_injector)]
    known = len(objective.cache)
    with torch.random.fork_rng(devices=[]):
        rec = {name: round(reconstruction_on_split(model, objective, corpus, injector, LTD_REC_IMAGES), 6)
               for name, corpus, injector in parts}
    if len(objective.cache) > known:
        save_targets(objective.cache, config)
    return rec


def start_scores(config: ExperimentConfig, out: Path, data: RunData, device: torch.device) -> dict[str, Any]:
    """``metrics["start"]``: the model this run was fine-tuned from (``init_from``, all of it),
    evaluated as the run is, before any step on this data (the zero-shot score of a CLIP-like
    start). The RNG is left as it was."""
    with torch.random.fork_rng(devices=[]):
        start = initial_model(config, out).to(device)
        features = encode_conditions(start, data.eval, data.eval_injector, config.eval_conditions,
                                     *start.image_transform(), num_workers=config.num_workers)
    return {"eval": features.score()}


def run_or_load(config: ExperimentConfig | dict, out_dir: Path | str, reuse: bool = True,
                progress: bool | None = None) -> dict[str, Any]:
    """Train-or-load: with ``reuse``, the metrics of a finished run of the same config (else train,
    resuming an unfinished one; foreign files or another config are an error); without, train
    again, replacing the run's own files (other files are kept)."""
    return run_experiment(config, out_dir, overwrite=not reuse, resume=reuse, progress=progress)

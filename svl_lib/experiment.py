"""One experiment = one validated config -> one run folder.

``run_experiment(config, out_dir)`` builds the data, the shortcut injector and the model, trains,
evaluates under the shortcut conditions and writes the run folder:

    config.json      the full config (written first)
    history.jsonl    one line per training step: step, epoch, loss, logit_scale, lr (with LTD also
                     contrastive, rec and, constrained, lambda)
    train_state.pt   the state after the last completed epoch, for resuming (removed at the end)
    model.pt         plain state_dict + config + vocabulary (written atomically)
    metrics.json     evaluation per condition + chance level (written last, atomically: a run
                     folder without it did not finish)

A notebook's ``parameters`` cell maps 1:1 onto :class:`ExperimentConfig` (flat, literal fields).
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import os
import shutil
import time
import types
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from .data.loading import CaptionDataset
from .data.toy import ToyWorld
from .digits import load_glyph_bank
from .evaluation import CONDITIONS, chance_level, evaluate
from .losses import REDUCTIONS, IFMLoss, InfoNCE, TripletLoss
from .ltd import (TARGET_CAPTIONS, LagrangeMultiplier, LTDObjective, TargetCache, TargetDecoder,
                  target_text, training_captions)
from .models.toy import ToyCLIP
from .models.vocab import Vocabulary
from .paths import runs_dir
from .probes import probe_model
from .shortcuts import ShortcutInjector, ShortcutSpec
from .training import Objective, TrainSettings, pick_device, seed_everything, train

MODES = ("none", "unique", "bits")
LOSSES = ("infonce", "triplet")
LTD_MODES = ("none", "constrained", "unconstrained")


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything that defines a run. Unknown keys and out-of-range values raise ``ValueError``."""

    name: str = "toy"
    seed: int = 0
    # data: the toy world
    dataset: str = "toy"
    n_train: int = 2000
    n_val: int = 250
    n_test: int = 500
    image_size: int = 32
    data_seed: int = 0
    # the shortcut seen in training (mode "none" = no shortcut)
    shortcut_mode: str = "none"
    n_digits: int = 4
    n_bits: int = 8
    shortcut_on_image: bool = True
    shortcut_on_caption: bool = True
    shortcut_p: float = 1.0
    shortcut_rotate: bool = True
    tile_fraction: float = 0.25
    glyph_bank: str = "auto"
    # model
    model: str = "toy"
    embed_dim: int = 128
    temperature: float | None = None  # None = learnable logit scale (init 1/0.07)
    # loss: InfoNCE or the VSE++ triplet loss, optionally with IFM (epsilon 0 = off)
    loss: str = "infonce"
    triplet_margin: float = 0.2
    triplet_max_violation: bool = True
    triplet_reduction: str = "sum"
    ifm_epsilon: float = 0.0
    # latent target decoding (LTD): "none", "constrained" (L_rec <= ltd_bound) or "unconstrained"
    ltd: str = "none"
    ltd_bound: float = 0.1
    ltd_beta: float = 1.0
    ltd_lambda_start: float = 1.0
    ltd_lambda_lr: float = 5e-3
    ltd_lambda_momentum: float = 0.9
    ltd_lambda_dampening: float = 0.9
    ltd_lambda_max: float = 100.0
    ltd_encoder: str = "all-MiniLM-L6-v2"
    # targets from the caption "as_fed" to the model (the reference code's choice; with a shortcut
    # every epoch's numbers are new strings to encode) or the "clean" caption (digits stripped)
    ltd_target_caption: str = "as_fed"
    ltd_hidden: int = 1024
    ltd_target_cache: bool = True  # keep targets in $SVL_RUNS_DIR/ltd_targets/<encoder>.pt
    # optimisation
    epochs: int = 8
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 0.0
    grad_clip: float = 2.0
    warmup_steps: int = 20
    # evaluation
    eval_split: str = "test"
    eval_conditions: tuple[str, ...] = ("clean", "shortcut", "image_only", "caption_only")
    probes: bool = True  # linear probes of the frozen embeddings (svl_lib.probes) in metrics.json
    device: str = "auto"

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ExperimentConfig":
        """Build from a plain dict (e.g. ``config.json`` or a notebook's parameters)."""
        names = [f.name for f in fields(cls)]
        unknown = [k for k in values if k not in names]
        if unknown:
            hints = {k: difflib.get_close_matches(k, names, n=1) for k in unknown}
            said = ", ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "")
                             for k, h in hints.items())
            raise ValueError(f"unknown config key(s): {said}")
        values = dict(values)
        if isinstance(values.get("eval_conditions"), list):
            values["eval_conditions"] = tuple(values["eval_conditions"])
        return cls(**values)

    def replace(self, **changes: Any) -> "ExperimentConfig":
        """A copy with some fields changed (validated like ``from_dict``)."""
        return ExperimentConfig.from_dict({**asdict(self), **changes})

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            _check_type(f.name, getattr(self, f.name), hints[f.name])
        _check_choice("dataset", self.dataset, ("toy",))
        _check_choice("model", self.model, ("toy",))
        _check_choice("loss", self.loss, LOSSES)
        _check_choice("triplet_reduction", self.triplet_reduction, REDUCTIONS)
        _check_choice("ltd", self.ltd, LTD_MODES)
        _check_choice("ltd_target_caption", self.ltd_target_caption, TARGET_CAPTIONS)
        for name in ("triplet_margin", "ifm_epsilon", "ltd_beta", "ltd_lambda_momentum",
                     "ltd_lambda_dampening"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("ltd_bound", "ltd_lambda_lr", "ltd_lambda_max"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}"
                                 + (" (the LTD constraint divides by it)" if name == "ltd_bound" else ""))
        if not 0 <= self.ltd_lambda_start <= self.ltd_lambda_max:
            raise ValueError(f"ltd_lambda_start must be in [0, ltd_lambda_max={self.ltd_lambda_max}], "
                             f"got {self.ltd_lambda_start}")
        if self.ltd_hidden < 1:
            raise ValueError(f"ltd_hidden must be >= 1, got {self.ltd_hidden}")
        if not self.ltd_encoder.strip():
            raise ValueError("ltd_encoder must name a sentence-transformers model, got ''")
        _check_choice("shortcut_mode", self.shortcut_mode, MODES)
        _check_choice("glyph_bank", self.glyph_bank, ("auto", "mnist", "sklearn"))
        _check_choice("eval_split", self.eval_split, ("val", "test"))
        for name in ("n_train", "n_val", "n_test", "epochs", "batch_size", "embed_dim", "n_digits"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("n_bits", "warmup_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.shortcut_p <= 1.0:
            raise ValueError(f"shortcut_p must be in [0, 1], got {self.shortcut_p}")
        for name in ("lr", "grad_clip"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.temperature is not None and self.temperature <= 0:
            raise ValueError(f"temperature must be > 0 or None (learnable), got {self.temperature}")
        bad = [c for c in self.eval_conditions if c not in CONDITIONS]
        if bad or not self.eval_conditions:
            raise ValueError(f"eval_conditions must be a non-empty subset of {list(CONDITIONS)}, "
                             f"got {list(self.eval_conditions)}")
        if self.image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8 for the toy CNN, got {self.image_size}")
        self.train_spec().validate(self.n_train)
        self.eval_spec().validate(self.n_eval)

    @property
    def n_eval(self) -> int:
        return self.n_test if self.eval_split == "test" else self.n_val

    def train_spec(self) -> ShortcutSpec:
        return ShortcutSpec(mode=self.shortcut_mode, n_digits=self.n_digits, n_bits=self.n_bits,
                            on_image=self.shortcut_on_image, on_caption=self.shortcut_on_caption,
                            p=self.shortcut_p, rotate=self.shortcut_rotate,
                            tile_fraction=self.tile_fraction)

    def eval_spec(self) -> ShortcutSpec:
        """The shortcut used by the non-clean evaluation conditions: the training shortcut, or
        unique ids when the model was trained without one (to fill the 2x2 table)."""
        mode = self.shortcut_mode if self.shortcut_mode != "none" else "unique"
        return dataclasses.replace(self.train_spec(), mode=mode, on_image=True, on_caption=True,
                                   p=1.0)


def _check_choice(name: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")


def _check_type(name: str, value: Any, hint: Any) -> None:
    origin = typing.get_origin(hint)
    if origin is tuple:
        ok = isinstance(value, tuple) and all(isinstance(v, str) for v in value)
    elif origin in (typing.Union, types.UnionType):
        ok = value is None or isinstance(value, (int, float)) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise ValueError(f"config key {name!r} must be {getattr(hint, '__name__', hint)}, "
                         f"got {value!r} ({type(value).__name__})")


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def run_status(out_dir: Path | str) -> str:
    """``"missing"`` (no folder or empty), ``"finished"`` (a readable ``metrics.json``) or
    ``"unfinished"`` (anything else: cut off, half-written or corrupt; never read as a result)."""
    out = Path(out_dir)
    if not out.is_dir() or not any(out.iterdir()):
        return "missing"
    try:
        json.loads((out / "metrics.json").read_text())["eval"]
        ExperimentConfig.from_dict(json.loads((out / "config.json").read_text()))
        return "finished"
    except (OSError, ValueError, KeyError, TypeError):
        return "unfinished"


def _saved_config(out: Path) -> ExperimentConfig | None:
    try:
        return ExperimentConfig.from_dict(json.loads((out / "config.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _start_run_dir(out: Path, config: ExperimentConfig, overwrite: bool, resume: bool) -> bool:
    """Make ``out`` ready; return True when an unfinished run of the same config is resumed."""
    status = run_status(out)
    if status != "missing":
        saved = _saved_config(out)
        if resume and saved is not None and saved != config:
            raise FileExistsError(f"run folder {out} holds a different config; choose another "
                                  "folder, or pass overwrite=True to replace it")
        if resume and saved == config:
            return True
        if not overwrite and not resume:
            raise FileExistsError(f"run folder {out} already exists ({status}); pass "
                                  "overwrite=True to replace it, or choose another folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_json_atomic(out / "config.json", asdict(config))
    return False


def _trim_history(path: Path, keep_steps: int) -> None:
    """Drop history lines of steps that the resumed state does not include (a cut-off epoch)."""
    lines = path.read_text().splitlines() if path.is_file() else []
    kept = []
    for line in lines:
        try:
            if json.loads(line)["step"] < keep_steps:
                kept.append(line)
        except (ValueError, KeyError):
            break  # a half-written last line
    path.write_text("".join(f"{line}\n" for line in kept))


def run_experiment(config: ExperimentConfig | dict, out_dir: Path | str, overwrite: bool = False,
                   resume: bool = False, progress: bool | None = None) -> dict:
    """Train and evaluate one configuration; write and return its metrics (see module doc).

    An existing run folder is an error unless ``overwrite`` (start again) or ``resume``: then a
    finished run of the same config is returned as it is, an unfinished one continues from its
    last completed epoch (``train_state.pt``), and one without a usable state starts again.
    """
    if isinstance(config, dict):
        config = ExperimentConfig.from_dict(config)
    out = Path(out_dir)
    if resume and run_status(out) == "finished" and _saved_config(out) == config:
        return json.loads((out / "metrics.json").read_text())
    resuming = _start_run_dir(out, config, overwrite, resume)

    seed_everything(config.seed)
    world = ToyWorld(config.n_train, config.n_val, config.n_test, config.image_size, config.data_seed)
    train_split, eval_split = world.split("train"), world.split(config.eval_split)
    bank = load_glyph_bank(config.glyph_bank)
    injector = None
    if config.shortcut_mode != "none":
        injector = ShortcutInjector(config.train_spec(), train_split.n_images, bank, config.seed)
    device = pick_device(config.device)
    vocab = Vocabulary.build(c for caps in train_split.captions for c in caps)
    model = ToyCLIP(vocab, config.image_size, config.embed_dim, config.temperature).to(device)
    dataset = CaptionDataset(train_split, injector)

    settings = TrainSettings(config.epochs, config.batch_size, config.lr, config.weight_decay,
                             config.grad_clip, config.warmup_steps, config.seed)
    state_path = out / "train_state.pt"
    done_epochs = 0
    if resuming and state_path.is_file():
        try:
            done_epochs = torch.load(state_path, map_location="cpu", weights_only=False)["epoch"]
        except Exception:  # a corrupt state: start the training again
            state_path.unlink()
    _trim_history(out / "history.jsonl", done_epochs * (len(dataset) // config.batch_size))
    objective = build_objective(config, dataset, progress)
    started = time.perf_counter()
    with open(out / "history.jsonl", "a") as log:
        def on_step(record: dict) -> None:
            log.write(json.dumps(record) + "\n")
        train(model, dataset, settings, objective=objective, on_step=on_step, progress=progress,
              state_path=state_path)
    train_seconds = time.perf_counter() - started
    save_checkpoint(model, config, out / "model.pt")
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]

    eval_injector = ShortcutInjector(config.eval_spec(), eval_split.n_images, bank, config.seed,
                                     evaluation=True)
    metrics = {
        "eval": evaluate(model, eval_split, eval_injector, config.eval_conditions),
        "chance": chance_level(eval_split),
        "eval_split": config.eval_split,
        "glyph_bank": bank.name,
        "train_seconds": round(train_seconds, 2),
        "resumed_from_epoch": done_epochs,
        "steps": len(history),
        "final_loss": history[-1]["loss"],
        "final_logit_scale": history[-1]["logit_scale"],
        "device": str(device),
    }
    if config.probes:
        metrics["probes"] = probe_model(model, train_split, eval_split, config.eval_spec(), bank,
                                        config.seed)
    _write_json_atomic(out / "metrics.json", metrics)
    state_path.unlink(missing_ok=True)
    return metrics


def build_objective(config: ExperimentConfig, dataset: CaptionDataset,
                    progress: bool | None = None) -> Objective:
    """The objective of ``config``: InfoNCE or the triplet loss, wrapped in IFM when
    ``ifm_epsilon > 0``, plus LTD when ``ltd != "none"``. For LTD the targets of every caption
    string the training will feed are encoded here, once (kept in
    ``$SVL_RUNS_DIR/ltd_targets/<encoder>.pt`` when ``ltd_target_cache``)."""
    base = (InfoNCE() if config.loss == "infonce" else
            TripletLoss(config.triplet_margin, config.triplet_max_violation, config.triplet_reduction))
    loss_fn = IFMLoss(base, config.ifm_epsilon) if config.ifm_epsilon > 0 else base
    if config.ltd == "none":
        return Objective(loss_fn)
    cache_file = runs_dir() / "ltd_targets" / (config.ltd_encoder.replace("/", "__") + ".pt")
    use_file = config.ltd_target_cache and cache_file.is_file()
    cache = (TargetCache.load(cache_file, config.ltd_encoder) if use_file
             else TargetCache(config.ltd_encoder))
    fed = training_captions(dataset.corpus, dataset.injector, config.epochs)
    texts = sorted({target_text(c, config.ltd_target_caption, config.n_digits) for c in fed})
    with torch.random.fork_rng(devices=[]):  # loading the encoder must not move the seeded RNG
        encoded = cache.ensure(texts, progress)
    if encoded and config.ltd_target_cache:
        cache.save(cache_file)
    multiplier = LagrangeMultiplier(config.ltd_lambda_start, config.ltd_lambda_lr,
                                    config.ltd_lambda_momentum, config.ltd_lambda_dampening,
                                    config.ltd_lambda_max)
    return LTDObjective(loss_fn, cache, TargetDecoder(config.embed_dim, cache.dim, config.ltd_hidden),
                        config.ltd, config.ltd_bound, config.ltd_beta, multiplier,
                        config.ltd_target_caption, config.n_digits)


def save_checkpoint(model: ToyCLIP, config: ExperimentConfig, path: Path) -> None:
    """Plain ``state_dict`` + config dict + vocabulary words, written via a temp file."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"state_dict": model.state_dict(), "config": asdict(config),
                "vocab": model.vocab.words}, tmp)
    os.replace(tmp, path)


def load_model(run_dir: Path | str, device: str = "cpu") -> ToyCLIP:
    """Rebuild the trained model of a run folder from ``model.pt``."""
    path = Path(run_dir) / "model.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: the run did not finish training")
    state = torch.load(path, map_location=device, weights_only=True)
    config = ExperimentConfig.from_dict(state["config"])
    model = ToyCLIP(Vocabulary(state["vocab"][2:]), config.image_size, config.embed_dim,
                    config.temperature)
    model.load_state_dict(state["state_dict"])
    return model.to(device).eval()


def run_or_load(config: ExperimentConfig | dict, out_dir: Path | str, reuse: bool = True,
                progress: bool | None = None) -> dict:
    """Train-or-load: with ``reuse``, the metrics of a finished run folder with the same config,
    else train (resuming an unfinished one; a folder holding a different config is an error).
    Without ``reuse``, train again from scratch, replacing the folder."""
    if reuse:
        return run_experiment(config, out_dir, resume=True, progress=progress)
    return run_experiment(config, out_dir, overwrite=True, progress=progress)

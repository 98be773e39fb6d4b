"""One experiment = one validated config -> one run folder.

``run_experiment(config, out_dir)`` builds the data, the shortcut injector and the model, trains,
evaluates under the shortcut conditions and writes the run folder:

    config.json      the full config (written first)
    history.jsonl    one line per training step: step, epoch, loss, logit_scale, lr
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
from .models.toy import ToyCLIP
from .models.vocab import Vocabulary
from .shortcuts import ShortcutInjector, ShortcutSpec
from .training import TrainSettings, pick_device, seed_everything, train

MODES = ("none", "unique", "bits")


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
    # loss
    loss: str = "infonce"
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
        _check_choice("loss", self.loss, ("infonce",))
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


def _prepare_run_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            state = "finished" if (out / "metrics.json").is_file() else "unfinished"
            raise FileExistsError(f"run folder {out} already exists ({state}); pass overwrite=True "
                                  "to replace it, or choose another folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def run_experiment(config: ExperimentConfig | dict, out_dir: Path | str, overwrite: bool = False,
                   progress: bool | None = None) -> dict:
    """Train and evaluate one configuration; write and return its metrics (see module doc)."""
    if isinstance(config, dict):
        config = ExperimentConfig.from_dict(config)
    out = Path(out_dir)
    _prepare_run_dir(out, overwrite)
    _write_json_atomic(out / "config.json", asdict(config))

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

    settings = TrainSettings(config.epochs, config.batch_size, config.lr, config.weight_decay,
                             config.grad_clip, config.warmup_steps, config.seed)
    started = time.perf_counter()
    with open(out / "history.jsonl", "w") as log:
        def on_step(record: dict) -> None:
            log.write(json.dumps(record) + "\n")
        history = train(model, CaptionDataset(train_split, injector), settings,
                        on_step=on_step, progress=progress)
    train_seconds = time.perf_counter() - started
    save_checkpoint(model, config, out / "model.pt")

    eval_injector = ShortcutInjector(config.eval_spec(), eval_split.n_images, bank, config.seed,
                                     evaluation=True)
    metrics = {
        "eval": evaluate(model, eval_split, eval_injector, config.eval_conditions),
        "chance": chance_level(eval_split),
        "eval_split": config.eval_split,
        "glyph_bank": bank.name,
        "train_seconds": round(train_seconds, 2),
        "steps": len(history),
        "final_loss": history[-1]["loss"],
        "final_logit_scale": history[-1]["logit_scale"],
        "device": str(device),
    }
    _write_json_atomic(out / "metrics.json", metrics)
    return metrics


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


def run_or_load(config: ExperimentConfig | dict, out_dir: Path | str,
                progress: bool | None = None) -> dict:
    """Train-or-load: return the metrics of a finished run folder with the same config, else run.

    A folder holding a different config is an error (never silently replaced); an unfinished
    one (no ``metrics.json``) is run again from scratch.
    """
    if isinstance(config, dict):
        config = ExperimentConfig.from_dict(config)
    out = Path(out_dir)
    saved = out / "config.json"
    if saved.is_file():
        if ExperimentConfig.from_dict(json.loads(saved.read_text())) != config:
            raise FileExistsError(f"run folder {out} holds a different config; choose another "
                                  "folder or delete it")
        if (out / "metrics.json").is_file():
            return json.loads((out / "metrics.json").read_text())
    return run_experiment(config, out, overwrite=True, progress=progress)

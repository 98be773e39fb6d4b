"""The experiment config: one flat, validated, JSON-ready dataclass per run.

A notebook's ``parameters`` cell maps onto :class:`ExperimentConfig`. Unknown keys, wrong types
and out-of-range values raise one ``ValueError`` naming the key and the fix, before anything is
built or written; :func:`svl_lib.experiments.registries.resolve` checks the rest (see below), every shortcut
injector a run will build (training, evaluation, probes) against the split sizes included, so a
config never fails after training.

**Run identity.** Fields that only say how a finished model is evaluated or where it runs
(:data:`NOT_IDENTITY`: name, device, eval_split, eval_conditions, probes, num_workers,
checkpoint_every, validate) are not part of
:meth:`ExperimentConfig.identity`: changing them never retrains a run. :meth:`ExperimentConfig.key`
hashes the identity; :func:`svl_lib.experiments.run_folders.keyed_folder` names run folders with it.

**A plain value.** The config checks what it can know by itself: types, ranges, its own choices and
combinations of its fields. It imports no dataset, model, loss or evaluation code: the names those
registries own (a dataset, a model, a loss, the evaluation conditions, ...), a model's own checks and
a dataset's defaults are applied by :func:`svl_lib.experiments.registries.resolve` when a config is built into
a run. ``None`` in ``n_digits``, ``tile_fraction`` and ``eval_conditions`` means "the dataset's (or
the evaluator's) default" until then; a resolved config has them filled, and only a resolved config
has a key or a shortcut plan (``run_experiment``, the notebooks' helpers and the sweeps resolve
first).
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import typing
from dataclasses import asdict, dataclass, fields
from typing import Any

from .config_checks import check_choice, check_type
from .shortcut_spec import MODES, ShortcutSpec

LR_SCHEDULES = ("cosine", "step")
LTD_MODES = ("none", "constrained", "unconstrained")
PRECISIONS = ("bf16", "fp32")
INIT_PARTS = ("all", "image")
NOT_IDENTITY = ("name", "device", "eval_split", "eval_conditions", "probes", "num_workers",
                "checkpoint_every", "validate")
_SPEC = ShortcutSpec()  # the shortcut's defaults are declared once, in ShortcutSpec


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything that defines a run (see the module docstring)."""

    name: str = "toy"
    seed: int = 0
    # data: "toy" (generated; n_train/n_val/n_test/image_size/data_seed apply to it only), or a
    # Karpathy dataset ("coco", "flickr30k") read from data_root (None: $SVL_DATA_DIR/<dataset>)
    dataset: str = "toy"
    data_root: str | None = None
    n_train: int = 2000
    n_val: int = 250
    n_test: int = 500
    image_size: int = 32
    data_seed: int = 0
    # a Karpathy dataset's JPEGs decoded at a reduced size before the model's resize (faster; the
    # pixels differ slightly from the full decode of open_clip and the reference); False: full size
    jpeg_draft: bool = False
    # the shortcut seen in training (mode "none" = no shortcut); None = the dataset's default
    shortcut_mode: str = _SPEC.mode
    n_digits: int | None = None
    n_bits: int = _SPEC.n_bits
    shortcut_on_image: bool = _SPEC.on_image
    shortcut_on_caption: bool = _SPEC.on_caption
    shortcut_p: float = _SPEC.p
    shortcut_rotate: bool = _SPEC.rotate
    tile_fraction: float | None = None
    glyph_bank: str = "auto"
    # model: "toy", "clip" (open_clip) or "vse" (VSE++). arch: the open_clip name (default RN50) or
    # the ResNet (default resnet152), "tiny" for CPU tests; for the toy model "" (its CNN) or
    # "efficientnet_lite0" (an ImageNet-pretrained tower, at image_size 64). pretrained: an
    # open_clip tag or a checkpoint path for CLIP, "imagenet" or a path for VSE++ and the toy
    # EfficientNet, "" for random init. frozen_stages: the toy EfficientNet's stem and first N of
    # its 7 stages stay fixed (a CPU budget; 0 trains all).
    # embed_dim: toy and VSE++ (the paper's VSE++: 1024); CLIP's comes from its arch.
    # quick_gelu: CLIP's activation, QuickGELU (OpenAI's weights were trained with it) or GELU;
    # None: the tag's, or for a checkpoint file the one all the arch's tags share (RN50: QuickGELU)
    # text_pooling: the toy GRU's caption embedding, its state at the "last" token or the "mean"
    model: str = "toy"
    arch: str = ""
    pretrained: str = ""
    quick_gelu: bool | None = None
    frozen_stages: int = 0
    text_pooling: str = "last"
    # a finished run folder whose model.pt (weights and vocabulary) starts this run: fine-tuning a
    # model trained elsewhere, as CLIP is pretrained elsewhere and fine-tuned on COCO. A relative
    # path is taken from the folder that holds this run (a sibling run folder).
    init_from: str | None = None
    # what init_from loads: "all" the model, or the "image" tower (and vocabulary): the caption tower
    # and the logit scale then start fresh (notebook 07's VSE++ analogue)
    init_parts: str = "all"
    embed_dim: int = 128
    temperature: float | None = None  # None = learnable logit scale (init 1/0.07)
    # loss: "infonce", the VSE++ "triplet" loss or SigLIP's "sigmoid" loss (a learnable logit bias,
    # init -10, and scale, init 10), optionally with IFM (epsilon 0 = off)
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
    # targets from the caption "as_fed" to the model (the reference code's choice) or the
    # "clean" caption (shortcut digits stripped)
    ltd_target_caption: str = "as_fed"
    ltd_hidden: int = 1024
    ltd_target_cache: bool = True  # keep targets in $SVL_RUNS_DIR/ltd_targets/<encoder>.pt
    # the embedding the decoder reads: "caption" (the paper's LTD) or "image", decoding the target of
    # its caption in the batch (the course's extension)
    ltd_side: str = "caption"
    # the first N training steps train only the LTD decoder, on the model as it starts (weights
    # fixed; batch-norm statistics still update); the model's schedule starts after them
    ltd_decoder_warmup: int = 0
    # optimisation
    epochs: int = 8
    batch_size: int = 256
    lr: float = 2e-3
    image_lr_scale: float = 1.0  # the image tower's learning rate is lr x this (per-tower rates)
    weight_decay: float = 0.0
    grad_clip: float = 2.0
    # "joint": one norm over all parameters; "per_tower": each tower, the LTD decoder and the rest
    # clipped on their own (svl_lib.train.gradients); both log the norms before clipping
    grad_clip_mode: str = "joint"
    warmup_steps: int = 20
    # "cosine": linear warm-up, then cosine to 0 (the paper's CLIP); "step": x0.1 every
    # lr_step_epochs epochs (the paper's VSE++: 15)
    lr_schedule: str = "cosine"
    lr_step_epochs: int = 15
    # the training forward pass on a GPU: "bf16" autocast with channels-last memory (the course's
    # default, about twice as fast) or "fp32" (the paper's); a CPU always runs fp32
    precision: str = "bf16"
    # several processes: batch norm over the global batch (SyncBatchNorm; the VSE++ grids' ResNet)
    # instead of each process's shard; no effect in one process
    sync_batchnorm: bool = False
    # evaluation and placement (not part of the run's identity)
    eval_split: str = "test"
    eval_conditions: tuple[str, ...] | None = None  # None: every condition of svl_lib.evaluate.conditions
    probes: bool = True  # linear probes of the frozen embeddings (svl_lib.evaluate.probes) in metrics.json
    device: str = "auto"
    num_workers: int = 0  # DataLoader processes that decode and transform images
    checkpoint_every: int = 0  # save the training state every N steps too (0: at epoch ends)
    # clean RSUM on the validation split after every epoch (validation.jsonl), the best model kept
    # as model_best.pt beside the last (model.pt, the one evaluated, as in the paper)
    validate: bool = False

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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def identity(self) -> dict[str, Any]:
        """The fields that define the trained model (all but :data:`NOT_IDENTITY`); resolved
        configs only."""
        self._require_resolved("the run's identity")
        return {k: v for k, v in asdict(self).items() if k not in NOT_IDENTITY}

    def key(self) -> str:
        """A short, stable hash of :meth:`identity` (8 hex digits): configs that train the same
        model share it, any change of a training field changes it. Only fields that differ from
        their declared default are hashed, so adding a field (with a default) to the config later
        keeps every existing key."""
        defaults = {f.name: f.default for f in fields(self)}
        changed = {k: v for k, v in self.identity().items() if v != defaults[k]}
        text = json.dumps(changed, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            check_type(f.name, getattr(self, f.name), hints[f.name])
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_choice("ltd", self.ltd, LTD_MODES)
        check_choice("init_parts", self.init_parts, INIT_PARTS)
        check_choice("precision", self.precision, PRECISIONS)
        check_choice("shortcut_mode", self.shortcut_mode, MODES)
        check_choice("eval_split", self.eval_split, ("val", "test"))
        self._check_combinations()
        self._check_ranges()

    @property
    def resolved(self) -> bool:
        """Whether the dataset's defaults are filled in (:func:`svl_lib.experiments.registries.resolve`)."""
        return None not in (self.n_digits, self.tile_fraction, self.eval_conditions)

    def _require_resolved(self, what: str) -> None:
        if not self.resolved:
            raise ValueError(f"{what} needs the dataset's defaults, and n_digits, tile_fraction or "
                             "eval_conditions is still None: resolve the config first "
                             "(svl_lib.experiments.registries.resolve(config); run_experiment, run_or_load, "
                             "notebook_runs and the sweeps do it)")

    def _check_combinations(self) -> None:
        if self.init_parts != "all" and self.init_from is None:
            raise ValueError(f"init_parts={self.init_parts!r} loads part of a trained model: set "
                             "init_from to that run's folder, or use init_parts='all'")
        if self.ltd_decoder_warmup and self.ltd == "none":
            raise ValueError("ltd_decoder_warmup warms up the LTD decoder: set ltd to 'constrained' or "
                             "'unconstrained', or leave ltd_decoder_warmup=0")
        if self.ltd_side != "caption" and self.ltd == "none":
            raise ValueError(f"ltd_side={self.ltd_side!r} is for latent target decoding: set ltd to "
                             "'constrained' or 'unconstrained', or leave ltd_side='caption'")
        if self.quick_gelu is not None and self.model != "clip":
            raise ValueError(f"quick_gelu is CLIP's activation, not {self.model!r}'s: leave it None")
        if self.text_pooling != "last" and self.model != "toy":
            raise ValueError(f"text_pooling={self.text_pooling!r} is for the toy model's GRU, not "
                             f"{self.model!r}: use model='toy' or text_pooling='last'")

    def _check_ranges(self) -> None:
        for name in ("triplet_margin", "ifm_epsilon", "ltd_beta", "ltd_lambda_momentum",
                     "ltd_lambda_dampening", "weight_decay", "n_bits", "warmup_steps", "num_workers",
                     "checkpoint_every", "ltd_decoder_warmup"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("ltd_bound", "ltd_lambda_lr", "ltd_lambda_max", "lr", "grad_clip", "image_lr_scale"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}"
                                 + (" (the LTD constraint divides by it)" if name == "ltd_bound" else ""))
        for name in ("n_train", "n_val", "n_test", "epochs", "batch_size", "embed_dim", "ltd_hidden",
                     "lr_step_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.ltd_lambda_start <= self.ltd_lambda_max:
            raise ValueError(f"ltd_lambda_start must be in [0, ltd_lambda_max={self.ltd_lambda_max}], "
                             f"got {self.ltd_lambda_start}")
        if not self.ltd_encoder.strip():
            raise ValueError("ltd_encoder must name a sentence-transformers model, got ''")
        if not 0.0 <= self.shortcut_p <= 1.0:
            raise ValueError(f"shortcut_p must be in [0, 1], got {self.shortcut_p}")
        if self.n_digits is not None and self.n_digits < 1:
            raise ValueError(f"n_digits must be >= 1 (or None: the dataset's default), got {self.n_digits}")
        if self.tile_fraction is not None and not 0.0 < self.tile_fraction <= 1.0:
            raise ValueError(f"tile_fraction must be in (0, 1] (or None: the dataset's default), "
                             f"got {self.tile_fraction}")
        if self.eval_conditions == ():
            raise ValueError("eval_conditions must name at least one condition (or be None: all)")
        if self.temperature is not None and self.temperature <= 0:
            raise ValueError(f"temperature must be > 0 or None (learnable), got {self.temperature}")

    def train_spec(self) -> ShortcutSpec:
        """The shortcut of the training items (resolved configs only)."""
        self._require_resolved("the training shortcut")
        return ShortcutSpec(mode=self.shortcut_mode, n_digits=self.n_digits, n_bits=self.n_bits,
                            on_image=self.shortcut_on_image, on_caption=self.shortcut_on_caption,
                            p=self.shortcut_p, rotate=self.shortcut_rotate,
                            tile_fraction=self.tile_fraction)

    def eval_spec(self) -> ShortcutSpec:
        """The shortcut used by the non-clean evaluation conditions and the digit probes: the
        training shortcut, or unique ids when the model was trained without one (to fill the 2x2
        table), on both modalities of every item."""
        mode = self.shortcut_mode if self.shortcut_mode != "none" else "unique"
        return dataclasses.replace(self.train_spec(), mode=mode, on_image=True, on_caption=True,
                                   p=1.0)

    def injector_plan(self) -> list[tuple[ShortcutSpec, str, str]]:
        """Every injector a run builds, as ``(spec, split, purpose)``: training (when there is a
        shortcut), evaluation, and the probes' (train and evaluation splits, when ``probes``)."""
        plan = [(self.eval_spec(), self.eval_split, "evaluation")]
        if self.shortcut_mode != "none":
            plan.insert(0, (self.train_spec(), "train", "training"))
        if self.probes:
            plan.append((self.eval_spec(), "train", "probe"))
        return plan

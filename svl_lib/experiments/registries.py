"""The step that builds a config into a run's config: :func:`resolve`.

The config (:mod:`svl_lib.config`) is a plain value that checks only itself. The names it may take
are owned by the modules that implement them: datasets (:data:`svl_lib.data.DATASETS`), models
(:data:`svl_lib.models.MODELS`, each with its own checks), losses (:data:`svl_lib.losses.LOSSES`),
evaluation conditions, glyph banks, LTD options and gradient clipping. :func:`resolve` checks a
config against them, fills the dataset's defaults, and checks every shortcut injector of the run
against the split sizes, so a config never fails after training. ``run_experiment``,
``run_or_load``, the notebooks' helpers (:mod:`svl_lib.course.notebook`) and the sweeps call it; it is
idempotent.
"""
from __future__ import annotations

from ..config import ExperimentConfig
from ..config_checks import check_choice
from ..data import DATASETS
from ..digits import BANK_NAMES
from ..evaluate.conditions import CONDITIONS
from ..train.gradients import GRAD_CLIP_MODES
from ..losses import LOSSES, REDUCTIONS
from ..ltd import LTD_SIDES, TARGET_CAPTIONS
from ..models import MODELS
from ..shortcut_spec import ShortcutSpec

_SPEC = ShortcutSpec()  # a dataset without its own shortcut defaults takes the spec's


def resolve(config: ExperimentConfig) -> ExperimentConfig:
    """``config`` checked against the registries, with the dataset's shortcut defaults and the
    evaluator's conditions filled in where they are ``None``. Raises one ``ValueError`` that names
    the key and the fix."""
    check_choice("dataset", config.dataset, tuple(DATASETS))
    dataset = DATASETS[config.dataset]
    defaults = {"n_digits": _SPEC.n_digits, "tile_fraction": _SPEC.tile_fraction,
                **dataset.shortcut_defaults, "eval_conditions": tuple(CONDITIONS)}
    missing = {key: value for key, value in defaults.items() if getattr(config, key) is None}
    if missing:
        config = config.replace(**missing)
    check_choice("model", config.model, tuple(MODELS))
    check_choice("loss", config.loss, tuple(LOSSES))
    check_choice("triplet_reduction", config.triplet_reduction, REDUCTIONS)
    check_choice("ltd_target_caption", config.ltd_target_caption, TARGET_CAPTIONS)
    check_choice("ltd_side", config.ltd_side, LTD_SIDES)
    check_choice("grad_clip_mode", config.grad_clip_mode, GRAD_CLIP_MODES)
    check_choice("glyph_bank", config.glyph_bank, BANK_NAMES)
    unknown = [c for c in config.eval_conditions if c not in CONDITIONS]
    if unknown:
        raise ValueError(f"eval_conditions must be a non-empty subset of {list(CONDITIONS)}, "
                         f"got {list(config.eval_conditions)}")
    MODELS[config.model].check(config)
    sizes = dataset.sizes(config)
    if sizes is not None:
        for spec, split, purpose in config.injector_plan():
            try:
                spec.validate(sizes[split])
            except ValueError as error:
                raise ValueError(f"the {purpose} shortcut on the {split} split "
                                 f"({sizes[split]:,} images): {error}") from None
    return config

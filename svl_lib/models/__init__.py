"""Image-text models by name: ``MODELS[name](config, train_corpus, info)`` builds one (see
``base`` for the contract). Adding a model means adding an entry here, nothing in the
orchestration."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..losses import LOSSES
from .base import ContrastiveModel
from .clip import build_clip
from .toy import ToyCLIP, build_toy
from .vse import build_vse
from .vocab import Vocabulary, tokenize

if TYPE_CHECKING:
    from ..config import ExperimentConfig
    from ..data.corpus import Corpus

ModelBuilder = Callable[["ExperimentConfig", "Corpus | None", "dict[str, Any] | None"], ContrastiveModel]
MODELS: dict[str, ModelBuilder] = {"toy": build_toy, "clip": build_clip, "vse": build_vse}


def build_model(config: "ExperimentConfig", train: "Corpus | None" = None,
                info: dict[str, Any] | None = None) -> ContrastiveModel:
    """The model ``config.model``: fresh (built from the training corpus) or, with a checkpoint's
    ``info``, ready to receive its ``state_dict``; fitted to its loss (:data:`~svl_lib.losses.LOSSES`):
    with a loss that never uses the logit scale (the triplet loss) the scale is a fixed buffer
    (:meth:`ContrastiveModel.fix_scale`), a loss that needs a logit bias (the sigmoid loss) gets one
    (:meth:`ContrastiveModel.add_logit_bias`)."""
    model = MODELS[config.model](config, train, info)
    loss = LOSSES[config.loss]
    if not loss.uses_scale:
        model.fix_scale()
    if loss.bias_start is not None:
        model.add_logit_bias(*loss.bias_start)
    return model


__all__ = ["MODELS", "ContrastiveModel", "ModelBuilder", "ToyCLIP", "Vocabulary", "build_model",
           "tokenize"]

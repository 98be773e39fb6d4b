"""Image-text models by name: ``MODELS[name].build(config, train_corpus, rebuild_info)`` builds
one (see ``base`` for the contract) and ``MODELS[name].check(config)`` raises one ``ValueError``
for a config the model cannot take (run by :func:`svl_lib.experiments.registries.resolve`). Adding a model
means adding an entry here, nothing in the orchestration."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..losses import LOSSES
from .base import ContrastiveModel
from .clip import build_clip
from .toy import ToyDualEncoder, build_toy, check_toy_config
from .vse import build_vse
from .vocab import Vocabulary, tokenize

if TYPE_CHECKING:
    from ..config import ExperimentConfig
    from ..corpus import Corpus

ModelBuilder = Callable[["ExperimentConfig", "Corpus | None", "dict[str, Any] | None"], ContrastiveModel]


@dataclass(frozen=True)
class ModelEntry:
    """A model's builder and its checks of a config."""

    build: ModelBuilder
    check: Callable[["ExperimentConfig"], None]


def check_photo_model(config: "ExperimentConfig") -> None:
    """CLIP and VSE++: photos at 224 px, and no option of the toy model's EfficientNet."""
    if config.dataset == "toy":
        raise ValueError(f"model {config.model!r} needs photos at 224 px: use dataset 'coco' or "
                         "'flickr30k' (for a stand-in: svl_lib.data.toy.export_karpathy(..., "
                         "dataset='coco') and data_root)")
    if config.frozen_stages:
        raise ValueError(f"frozen_stages is for the toy model's EfficientNet, not {config.model!r}")


MODELS: dict[str, ModelEntry] = {"toy": ModelEntry(build_toy, check_toy_config),
                                 "clip": ModelEntry(build_clip, check_photo_model),
                                 "vse": ModelEntry(build_vse, check_photo_model)}


def build_model(config: "ExperimentConfig", train: "Corpus | None" = None,
                rebuild_info: dict[str, Any] | None = None) -> ContrastiveModel:
    """The model ``config.model``: fresh (built from the training corpus) or, with a checkpoint's
    ``rebuild_info``, ready to receive its ``state_dict``; fitted to its loss
    (:data:`~svl_lib.losses.LOSSES`): with a loss that never uses the logit scale (the triplet
    loss) the scale is a fixed buffer (:meth:`ContrastiveModel.fix_scale`), a loss that needs a
    logit bias (the sigmoid loss) gets one (:meth:`ContrastiveModel.add_logit_bias`)."""
    model = MODELS[config.model].build(config, train, rebuild_info)
    loss = LOSSES[config.loss]
    if not loss.uses_scale:
        model.fix_scale()
    if loss.bias_start is not None:
        model.add_logit_bias(*loss.bias_start)
    return model


__all__ = ["MODELS", "ContrastiveModel", "ModelBuilder", "ModelEntry", "ToyDualEncoder", "Vocabulary",
           "build_model", "tokenize"]

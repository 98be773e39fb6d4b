"""The models a run starts from and ends with: the run folder ``init_from`` names, the model of a
finished run to fine-tune (all of it, or its image tower only), and a finished run's trained model
rebuilt from its ``model.pt``.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from ..config import ExperimentConfig
from ..models import ContrastiveModel, build_model
from .run_folders import read_model, run_status


def init_source(out_dir: Path | str, init_from: str) -> Path:
    """The run folder ``init_from`` names for the run in ``out_dir``: a relative path is taken from
    ``out_dir``'s parent, ``..`` resolved on the path itself (the folders need not exist yet)."""
    return Path(os.path.normpath(Path(out_dir).parent / Path(init_from).expanduser()))


def initial_model(config: ExperimentConfig, out_dir: Path | str) -> ContrastiveModel:
    """The model of the finished run ``config.init_from`` (its architecture, vocabulary and
    weights) to fine-tune under ``config`` in ``out_dir``; a relative ``init_from`` is a sibling of
    ``out_dir``. With ``init_parts="image"`` only its image tower's weights: the caption tower
    (over the source's vocabulary) and the logit scale are those of a new model of ``config``
    seeded with ``config.seed`` (the caller seeds). One clear error when it cannot start this run."""
    source = init_source(out_dir, config.init_from)
    if run_status(source) != "finished":
        raise ValueError(f"init_from={config.init_from!r} is not a finished run folder "
                         f"({run_status(source)}): train that run first")
    state = read_model(source)
    trained = ExperimentConfig.from_dict(state["config"])
    changed = [k for k in ("model", "arch", "embed_dim", "image_size", "frozen_stages")
               if getattr(trained, k) != getattr(config, k)]
    if changed:
        raise ValueError(f"init_from={config.init_from!r} is a different model ({', '.join(changed)} "
                         "differ): use the same model fields as that run")
    model = build_model(config, rebuild_info=state["rebuild"])  # seeded by the caller: a fresh model
    if config.init_parts == "image":
        model.load_image_tower(state["state_dict"])
        return model  # the caption tower and the logit scale as initialised
    model.load_state_dict(state["state_dict"])
    if config.temperature is not None:  # a fixed temperature of this run replaces the trained one
        with torch.no_grad():
            model.log_scale.fill_(math.log(1.0 / config.temperature))
    return model


def load_model(run_dir: Path | str, device: str | torch.device = "cpu") -> ContrastiveModel:
    """Rebuild the trained model of a run folder from its ``model.pt``."""
    state = read_model(run_dir)
    config = ExperimentConfig.from_dict(state["config"])
    model = build_model(config, rebuild_info=state["rebuild"])
    model.load_state_dict(state["state_dict"])
    return model.to(device).eval()

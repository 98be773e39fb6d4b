"""CLIP through ``open_clip`` behind the model contract (the paper's CLIP RN50; ViT-B-32 is its
ablation).

``arch`` is any open_clip model name (``open_clip.list_models()``), or ``"tiny"``: a two-layer
ViT and text transformer of width 64 at 224 px that trains on a CPU in seconds (for tests and the
offline fallback of notebook 06). ``pretrained`` is an open_clip tag (e.g. ``"openai"``: downloaded
from the hub when online, then cached), a local checkpoint path, or ``""`` for random init.

The pretrained logit scale is kept and learnable, without a clamp, as in the paper's code (OpenAI's
scale starts at 100, open_clip's training clamp, so a clamp there would let it only fall); with a
fixed ``temperature`` it is fixed. Preprocessing is open_clip's, split into the geometric part
(resize the shortest side and centre crop, or SigLIP's squash to a square, as the model's
preprocessing config says; before the shortcut is pasted) and the tensor part (to tensor,
normalise); a rebuilt model keeps it, and a checkpoint file gets the one its arch's tags share.
Captions are cut at open_clip's context length with the end-of-text token kept last (the
reference code could pool at the wrong token), and a long caption is cut *before* its appended
shortcut digits, which are always kept (with CLIP's BPE tokenizer; other open_clip tokenizers cut
at their own length).

SigLIP models (e.g. ``ViT-B-16-SigLIP``: a timm image tower, a learnable logit bias) build too:
the embedding width comes from open_clip's model config, the bias is the wrapper's ``logit_bias``
(``None`` for other models), and the tokenizer (a Hugging Face one for SigLIP, downloaded when
online) is made on first use, so that a randomly initialised model builds offline.

OpenAI's weights were trained with QuickGELU: a tag whose weights need it builds the network with
QuickGELU (``force_quick_gelu``), and so does a checkpoint file of an arch whose tags all need it
(RN50; the config's ``quick_gelu`` says it for any file); the choice is saved with the model, so
that a rebuilt model (re-evaluation, ``init_from``) is the network that was trained.
"""
from __future__ import annotations

import difflib
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torchvision import transforms

from ..transforms import TensorFn, to_uint8_tensor
from ..paths import hub_online
from ..shortcuts import split_digits
from .base import TINY, ContrastiveModel, Tokenizer

if TYPE_CHECKING:
    from ..config import ExperimentConfig
    from ..corpus import Corpus

TINY_WIDTH = 64
DEFAULT_ARCH = "RN50"


def _open_clip():
    try:
        import open_clip
    except ImportError:
        raise ImportError("CLIP needs open_clip: pip install 'svl_lib[real]' (or open_clip_torch)") from None
    return open_clip


def _offline_reason() -> str:
    """Why a file missing from the local cache could not be had, for the error message."""
    return "the download failed" if hub_online() else "this machine is offline (HF_HUB_OFFLINE is set)"


def embed_width(arch: str) -> int:
    """The width ``D`` of the joint embedding: ``embed_dim`` of open_clip's config of ``arch``
    (image towers from timm have no ``output_dim`` to read it from)."""
    return TINY_WIDTH if arch == TINY else int(_open_clip().get_model_config(arch)["embed_dim"])


PREPROCESS_KEYS = ("mean", "std", "interpolation", "resize_mode")  # what a tag says of its images


def tag_configs(arch: str) -> dict[str, dict[str, Any]]:
    """open_clip's config of each pretrained tag of ``arch`` (none for an arch without tags)."""
    open_clip = _open_clip()
    return {tag: open_clip.get_pretrained_cfg(arch, tag)
            for tag in open_clip.list_pretrained_tags_by_model(arch)}


def file_quick_gelu(arch: str) -> bool:
    """Whether a checkpoint file of ``arch`` runs with QuickGELU when the config does not say: as
    every pretrained tag of ``arch`` does (RN50's tags: QuickGELU); open_clip's default for an arch
    without tags; one clear error when its tags differ (ViT-B-32: OpenAI's and LAION's)."""
    flags = {tag: bool(config.get("quick_gelu", False)) for tag, config in tag_configs(arch).items()}
    if len(set(flags.values())) > 1:
        quick = [tag for tag, flag in flags.items() if flag]
        raise ValueError(f"the activation of a {arch} checkpoint file is not known: the tags of {arch} "
                         f"differ (QuickGELU: {quick}; GELU: the others); set quick_gelu=True for "
                         "weights trained with QuickGELU (OpenAI's), else quick_gelu=False")
    return next(iter(flags.values()), False)


def file_preprocess(arch: str) -> dict[str, Any]:
    """The image preprocessing of a checkpoint file of ``arch``: what every pretrained tag of
    ``arch`` says alike (ViT-B-16-SigLIP: a squash resize, mean and std 0.5), where open_clip would
    give a file its defaults (OpenAI's normalisation, shortest-side resize)."""
    configs = list(tag_configs(arch).values())
    return {key: configs[0][key] for key in PREPROCESS_KEYS
            if configs and key in configs[0] and all(c.get(key) == configs[0][key] for c in configs)}


def create_clip(arch: str, pretrained: str = "", quick_gelu: bool | None = None,
                preprocess: dict[str, Any] | None = None) -> tuple[nn.Module, bool]:
    """An open_clip model and whether it uses QuickGELU (saved to rebuild it). ``quick_gelu=None``:
    a tag's own activation, a checkpoint file's from :func:`file_quick_gelu`, GELU for random
    init. Its image preprocessing (``visual.preprocess_cfg``) is a tag's, a file's
    :func:`file_preprocess`, or with random init ``preprocess`` (a rebuilt model's saved one) over
    open_clip's defaults. Unknown names, unknown tags and a tag that cannot be downloaded are one
    clear error each."""
    open_clip = _open_clip()
    if arch == TINY:
        if pretrained:
            raise ValueError(f"the tiny CLIP has no pretrained weights; got pretrained={pretrained!r}")
        quick_gelu = bool(quick_gelu)
        model = open_clip.CLIP(
            embed_dim=TINY_WIDTH, quick_gelu=quick_gelu,
            vision_cfg=open_clip.CLIPVisionCfg(layers=2, width=64, head_width=32, patch_size=32,
                                               image_size=224),
            text_cfg=open_clip.CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=2,
                                           layers=2))
        model.visual.preprocess_cfg = {"size": 224, "mean": open_clip.OPENAI_DATASET_MEAN,
                                       "std": open_clip.OPENAI_DATASET_STD, "interpolation": "bicubic"}
        return model, quick_gelu
    if arch not in open_clip.list_models():
        near = difflib.get_close_matches(arch, open_clip.list_models(), n=3)
        raise ValueError(f"unknown open_clip model {arch!r}" + (f"; did you mean {near}?" if near else
                         "; see open_clip.list_models()"))
    if not pretrained:
        quick_gelu = bool(quick_gelu)
        return open_clip.create_model(arch, pretrained=None, force_quick_gelu=quick_gelu,
                                      force_preprocess_cfg=preprocess), quick_gelu
    path = Path(pretrained).expanduser()
    if path.is_file():
        quick_gelu = file_quick_gelu(arch) if quick_gelu is None else quick_gelu
        return open_clip.create_model(arch, pretrained=str(path), force_quick_gelu=quick_gelu,
                                      force_preprocess_cfg=file_preprocess(arch)), quick_gelu
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if pretrained not in tags:
        raise ValueError(f"pretrained={pretrained!r} is neither a file nor a tag of {arch} "
                         f"(tags: {tags}); give a tag or the path of a checkpoint")
    if quick_gelu is None:
        quick_gelu = bool(open_clip.get_pretrained_cfg(arch, pretrained).get("quick_gelu", False))
    try:
        return (open_clip.create_model(arch, pretrained=pretrained, force_quick_gelu=quick_gelu),
                quick_gelu)
    except RuntimeError as err:
        raise RuntimeError(
            f"the {arch} weights {pretrained!r} are not in the local cache and {_offline_reason()}: "
            "run once on an online machine (open_clip caches them under ~/.cache/huggingface), or "
            f"download the checkpoint and pass its path as pretrained=... ({err})") from None


class ClipTokenizer:
    """Captions -> ``(B, context_length)`` token ids on the CPU with an open_clip tokenizer;
    picklable (DataLoader workers get it). With CLIP's BPE tokenizer a caption too long for the
    context is cut before its shortcut digits (the trailing digit tokens,
    :func:`~svl_lib.shortcuts.split_digits`), which are kept, end-of-text last; other tokenizers
    cut at their own length."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer

    def __call__(self, captions: list[str]) -> torch.Tensor:
        tok = self.tokenizer
        if not isinstance(tok, _open_clip().SimpleTokenizer) or tok.reduction_fn is not None:
            return tok(captions)
        length = tok.context_length
        out = torch.zeros(len(captions), length, dtype=torch.long)
        for row, caption in enumerate(captions):
            text, digits = split_digits(caption)
            tail = tok.encode(digits)[-(length - 2):]
            ids = [tok.sot_token_id, *tok.encode(text)[:length - 2 - len(tail)], *tail, tok.eot_token_id]
            out[row, :len(ids)] = torch.tensor(ids)
        return out


class OpenCLIP(ContrastiveModel):
    """An open_clip model with the course's logit scale (initialised from the model's own,
    unclamped) and, for SigLIP models, open_clip's learnable logit bias (:attr:`logit_bias`)."""

    max_logit_scale = None
    image_prefixes = ("clip.visual.",)

    def __init__(self, clip: nn.Module, arch: str, quick_gelu: bool, temperature: float | None = None):
        super().__init__(embed_width(arch), temperature=temperature,
                         init_temperature=float(1.0 / clip.logit_scale.detach().exp()))
        clip.logit_scale.requires_grad_(False)  # the base class's log_scale is the one trained
        self.clip, self.arch, self.quick_gelu = clip, arch, quick_gelu

    @property
    def logit_bias(self) -> nn.Parameter | None:
        """SigLIP's learnable logit bias ``b`` (open_clip's, initialised to its config's
        ``init_logit_bias``); ``None`` for a model without one. Read from the open_clip model, so
        it is saved once, as ``clip.logit_bias``."""
        own = getattr(self.clip, "logit_bias", None)
        return own if own is not None else super().logit_bias

    @cached_property
    def tokenizer(self) -> Any:
        """open_clip's tokenizer of the architecture, made on first use."""
        try:
            return _open_clip().get_tokenizer("ViT-B-32" if self.arch == TINY else self.arch)
        except OSError as err:
            raise RuntimeError(
                f"the tokenizer of {self.arch} is not in the local cache and {_offline_reason()}: "
                "run once on an online machine (Hugging Face caches it under "
                f"~/.cache/huggingface) ({err})") from None

    def image_transform(self, train: bool = False) -> tuple[transforms.Compose, TensorFn]:
        """open_clip's evaluation preprocessing of the model (in training too): its resize mode,
        ``"shortest"`` (the shorter side to the size, then a centre crop; CLIP's) or ``"squash"``
        (the whole image to a square, its aspect ratio changed; SigLIP's); the pixels as uint8, normalised
        on the device by :meth:`pixel_mean_std`."""
        cfg = self.clip.visual.preprocess_cfg
        size = cfg["size"] if isinstance(cfg["size"], int) else cfg["size"][0]
        interpolation = transforms.InterpolationMode(cfg.get("interpolation", "bicubic"))
        mode = cfg.get("resize_mode", "shortest")
        if mode == "shortest":
            prepare = transforms.Compose([transforms.Resize(size, interpolation=interpolation),
                                          transforms.CenterCrop(size)])
        elif mode == "squash":
            prepare = transforms.Compose([transforms.Resize((size, size), interpolation=interpolation)])
        else:
            raise ValueError(f"{self.arch}'s preprocessing resizes with resize_mode={mode!r}: the "
                             "course takes 'shortest' and 'squash'")
        return prepare, to_uint8_tensor

    def pixel_mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """open_clip's normalisation of the model's pixels."""
        cfg = self.clip.visual.preprocess_cfg
        return tuple(cfg["mean"]), tuple(cfg["std"])

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Image tower, text tower (everything else of the CLIP model), the logit scale and
        SigLIP's logit bias."""
        image = [p for p in self.clip.visual.parameters() if p.requires_grad]
        bias = [self.logit_bias] if self.logit_bias is not None and self.logit_bias.requires_grad else []
        ids = {id(p) for p in image + bias}
        text = [p for p in self.clip.parameters() if p.requires_grad and id(p) not in ids]
        groups = [{"params": image, "lr": lr, "name": "image"}, {"params": text, "lr": lr, "name": "text"}]
        if self.log_scale.requires_grad:
            groups.append({"params": [self.log_scale], "lr": lr, "name": "logit_scale"})
        if bias:
            groups.append({"params": bias, "lr": lr, "name": "logit_bias"})
        return groups

    def rebuild_info(self) -> dict[str, Any]:
        """The activation and the image preprocessing (JSON-ready), which a bare architecture
        would not have (open_clip's defaults)."""
        preprocess = {k: list(v) if isinstance(v, tuple) else v
                      for k, v in self.clip.visual.preprocess_cfg.items()}
        return {"quick_gelu": self.quick_gelu, "preprocess": preprocess}

    def text_tokenizer(self) -> Tokenizer:
        """A :class:`ClipTokenizer` over the model's open_clip tokenizer."""
        return ClipTokenizer(self.tokenizer)

    def image_embedding(self, images: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_image(images)

    def text_embedding(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_text(tokens)


def build_clip(config: "ExperimentConfig", train: "Corpus | None" = None,
               rebuild_info: dict[str, Any] | None = None) -> OpenCLIP:
    """CLIP ``config.arch`` (default RN50) with ``config.pretrained`` weights; with a checkpoint's
    ``rebuild_info``, the bare architecture (its weights come from the checkpoint, nothing is downloaded)."""
    arch = config.arch or DEFAULT_ARCH
    if rebuild_info is not None:
        clip, quick_gelu = create_clip(arch, "", rebuild_info["quick_gelu"], rebuild_info.get("preprocess"))
    else:
        clip, quick_gelu = create_clip(arch, config.pretrained, config.quick_gelu)
    return OpenCLIP(clip, arch, quick_gelu, config.temperature)

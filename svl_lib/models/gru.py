"""The caption tower trained from scratch: a GRU over a word vocabulary, shared by the toy model
and VSE++ (whose paper pairs it with a pretrained image tower)."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .base import Tokenizer
from .vocab import Vocabulary


TEXT_POOLINGS = ("last", "mean")


class GRUTextEncoder(nn.Module):
    """Word embedding -> 1-layer GRU -> pooling -> linear head (``head=False``: the pooled state
    itself, of size ``embed_dim``, as VSE++ does). Pooling ``"last"``: the hidden state at the
    last real token; ``"mean"``: the mean of the GRU outputs over each caption's real tokens
    (padding never counts), so that the last words (where the shortcut digits are) weigh no more
    than the others.

    The GRU always runs in float32 with autocast off: CUDA autocast runs cuDNN RNNs in float16
    whatever its dtype, and the training loop has no loss scaler.
    """

    def __init__(self, vocab_size: int, embed_dim: int = 128, word_dim: int = 64, hidden: int = 128,
                 head: bool = True, pooling: str = "last"):
        super().__init__()
        if pooling not in TEXT_POOLINGS:
            raise ValueError(f"pooling must be one of {TEXT_POOLINGS}, got {pooling!r}")
        self.pooling = pooling
        self.embed = nn.Embedding(vocab_size, word_dim, padding_idx=0)
        self.gru = nn.GRU(word_dim, hidden if head else embed_dim, batch_first=True)
        self.head = nn.Linear(hidden, embed_dim) if head else nn.Identity()

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``ids (B, L)`` (0 = padding), ``lengths (B,)`` on the CPU -> ``(B, embed_dim)``."""
        lengths = lengths.cpu()
        packed = pack_padded_sequence(self.embed(ids).float(), lengths, batch_first=True,
                                      enforce_sorted=False)
        with torch.autocast(ids.device.type, enabled=False):
            out, h = self.gru(packed)
        if self.pooling == "last":
            return self.head(h[-1])
        outputs, _ = pad_packed_sequence(out, batch_first=True)  # (B, max length, H), zero padded
        return self.head(outputs.sum(1) / lengths.to(outputs.device, outputs.dtype).unsqueeze(1))


class VocabularyCaptions:
    """The caption side of a model whose captions are word ids of its ``vocab`` read by a
    :class:`GRUTextEncoder` (the toy model and VSE++): the contract's tokenizer and device move."""

    vocab: Vocabulary
    device: torch.device

    def text_tokenizer(self) -> Tokenizer:
        """:meth:`Vocabulary.encode`: captions -> ``(ids (B, L), lengths (B,))`` on the CPU."""
        return self.vocab.encode

    def text_to_device(self, text: tuple[torch.Tensor, torch.Tensor],
                       non_blocking: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """The ids on the model's device; the lengths stay on the CPU, where
        ``pack_padded_sequence`` reads them."""
        ids, lengths = text
        return ids.to(self.device, non_blocking=non_blocking), lengths

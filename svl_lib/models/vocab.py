"""Word vocabulary for the GRU text encoders (toy world, later VSE++).

Tokens are lower-cased words and punctuation. The digits ``0``..``9`` are always in the vocabulary,
so a caption's shortcut tokens are never ``<unk>`` (as in the paper's VSE vocabulary).
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import torch

PAD, UNK = "<pad>", "<unk>"
_TOKEN = re.compile(r"[a-z]+|[0-9]|[^\sa-z0-9]")


def tokenize(text: str) -> list[str]:
    """``"A red circle, 0 4"`` -> ``["a", "red", "circle", ",", "0", "4"]`` (digits one by one)."""
    return _TOKEN.findall(text.lower())


class Vocabulary:
    """Maps words to ids; ``<pad>`` is 0, ``<unk>`` is 1."""

    def __init__(self, words: Iterable[str]):
        self.words: list[str] = [PAD, UNK]
        seen = set(self.words)
        for w in words:
            if w not in seen:
                seen.add(w)
                self.words.append(w)
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, captions: Iterable[str], min_count: int = 1) -> "Vocabulary":
        """Vocabulary of the words seen at least ``min_count`` times, plus the ten digits."""
        counts = Counter(t for c in captions for t in tokenize(c))
        kept = sorted(w for w, n in counts.items() if n >= min_count)
        return cls([str(d) for d in range(10)] + kept)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch of captions -> ``(ids (B, L) long, lengths (B,) long)``, right-padded with 0."""
        seqs = [[self.index.get(t, 1) for t in tokenize(c)] or [1] for c in captions]
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        ids = torch.zeros(len(seqs), int(lengths.max()), dtype=torch.long)
        for row, s in enumerate(seqs):
            ids[row, : len(s)] = torch.tensor(s)
        return ids, lengths

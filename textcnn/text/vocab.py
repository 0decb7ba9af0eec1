"""Vocabulary: token <-> id, with PAD = 0 and UNK = 1, saved as JSON in the bundle."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from textcnn.models.token_ids import PAD_ID, UNK_ID

PAD = "<pad>"  # at PAD_ID
UNK = "<unk>"  # at UNK_ID


class Vocab:
    def __init__(self, tokens: Sequence[str]) -> None:
        if list(tokens[PAD_ID : UNK_ID + 1]) != [PAD, UNK]:
            raise ValueError(f"a vocabulary starts with {PAD!r} and {UNK!r}")
        self.itos = list(tokens)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("vocabulary has duplicate tokens")

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Sequence[str]],
        min_count: int = 1,
        max_size: int | None = None,
    ) -> Vocab:
        """Words seen at least ``min_count`` times, most frequent first (ties: first seen)."""
        counts = Counter(t for tokens in token_lists for t in tokens)
        words = [w for w, c in counts.most_common() if c >= min_count and w not in (PAD, UNK)]
        if max_size is not None:
            words = words[: max(0, max_size - 2)]
        return cls([PAD, UNK, *words])

    def extend(self, words: Iterable[str]) -> Vocab:
        """A new vocabulary: these tokens, then ``words`` not already present, in order."""
        extra = [w for w in dict.fromkeys(words) if w not in self.stoi]
        return Vocab([*self.itos, *extra])

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def ids(self, tokens: Iterable[str]) -> list[int]:
        unk = self.stoi[UNK]
        return [self.stoi.get(t, unk) for t in tokens]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.itos, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Vocab:
        tokens = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError(f"{path}: a vocabulary is a JSON list of strings")
        return cls(tokens)

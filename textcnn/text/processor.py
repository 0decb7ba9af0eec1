"""Text to token-id tensors: the tokeniser, vocabulary and length limit a bundle carries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textcnn.text.tokenize import get_tokenizer
from textcnn.text.vocab import Vocab

VOCAB_FILE = "vocab.json"


@dataclass
class TextProcessor:
    vocab: Vocab
    tokenizer: str = "kim"
    lowercase: bool = True
    max_length: int = 256

    modality = "text"

    def tokenize(self, text: str) -> list[str]:
        return get_tokenizer(self.tokenizer)(text, self.lowercase)[: self.max_length]

    def encode_tokens(self, token_lists: Sequence[Sequence[str]]) -> torch.Tensor:
        """Right-padded ``[N, T]`` ids, ``T`` the longest list (at least 1).

        Built as one list and one NumPy array: a tensor write per row cost more than
        tokenising, and ``torch.tensor`` of a list three times ``np.array``'s."""
        width = max([1, *(len(t) for t in token_lists)])
        ids = self.vocab.ids
        rows = [ids(tokens) + [0] * (width - len(tokens)) for tokens in token_lists]
        return torch.from_numpy(np.array(rows, dtype=np.int64).reshape(len(token_lists), width))

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        return self.encode_tokens([self.tokenize(t) for t in texts])

    def to_config(self) -> dict[str, Any]:
        return {
            "modality": self.modality,
            "tokenizer": self.tokenizer,
            "lowercase": self.lowercase,
            "max_length": self.max_length,
            "vocab_size": len(self.vocab),
        }

    def save(self, directory: Path) -> list[str]:
        self.vocab.save(directory / VOCAB_FILE)
        return [VOCAB_FILE]

    @classmethod
    def load(cls, directory: Path, config: dict[str, Any]) -> TextProcessor:
        vocab = Vocab.load(directory / VOCAB_FILE)
        if len(vocab) != config["vocab_size"]:
            raise ValueError(
                f"{VOCAB_FILE} has {len(vocab)} tokens, config.json says {config['vocab_size']}"
            )
        return cls(vocab, config["tokenizer"], config["lowercase"], config["max_length"])

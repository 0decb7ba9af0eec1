"""A text model ready to fit (``PreparedText``, made by ``text.prepare``), and the fit itself:
the shared engine's, one model after the other or folds side by side (``text.fold_parallel``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from textcnn.engine.config import TrainConfig
from textcnn.engine.epochs import TrainResult
from textcnn.engine.trainer import Split, fit
from textcnn.models.blocks import Classifier
from textcnn.models.textcnn import TextCNNConfig
from textcnn.models.token_ids import PAD_ID, UNK_ID
from textcnn.text import fold_parallel
from textcnn.text.data import TextDataset
from textcnn.text.processor import TextProcessor


class TextBatches:
    """In training, replace each word by the unknown word with probability ``word_dropout``
    (``fit`` has already cut each batch's padding, from the split's lengths)."""

    def __init__(self, word_dropout: float = 0.0) -> None:
        self.word_dropout = word_dropout

    def train(self, x: torch.Tensor) -> torch.Tensor:
        if self.word_dropout > 0:
            drop = (torch.rand(x.shape, device=x.device) < self.word_dropout) & (x != PAD_ID)
            x = x.masked_fill(drop, UNK_ID)
        return x

    def eval(self, x: torch.Tensor) -> torch.Tensor:
        return x


@dataclass
class PreparedText:
    """One text model ready to fit: its network, vocabulary, encoded splits and data."""

    model: Classifier
    model_config: TextCNNConfig
    processor: TextProcessor
    labels: list[str]
    train: TextDataset
    dev: TextDataset
    test: TextDataset | None
    train_split: Split
    dev_split: Split
    batches: TextBatches
    lazy_rows: bool
    distilled: dict[str, Any] | None = None  # what ``--distill``'s teacher did, to record


def text_split(x: torch.Tensor, y: torch.Tensor, soft: torch.Tensor | None = None) -> Split:
    """Padded ids ``x`` with their targets, and the row lengths ``fit`` batches by."""
    return Split(x, y, lengths=(x != PAD_ID).sum(dim=1), soft=soft)


def fit_prepared(
    prepared: list[PreparedText],
    cfg: TrainConfig,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    parallel: bool = False,
) -> list[TrainResult]:
    """Fit each prepared model, one after the other or (``parallel``) all together."""
    for p in prepared:
        p.model.encoder.sparse_grads(p.lazy_rows)
    if parallel:
        models = [p.model for p in prepared]
        trains = [p.train_split for p in prepared]
        devs = [p.dev_split for p in prepared]
        results = fold_parallel.fit_folds(models, trains, devs, cfg, prepared[0].batches)
    else:
        results = [
            fit(p.model, p.train_split, p.dev_split, cfg, p.batches, on_epoch) for p in prepared
        ]
    for p in prepared:
        p.model.encoder.sparse_grads(False)
    return results

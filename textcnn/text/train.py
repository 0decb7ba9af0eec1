"""Train a TextCNN from labelled text files: prepare it (``text.prepare``), fit it with the
shared engine, fit the terms after the network and bundle it (``text.finish``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gensim.models import KeyedVectors

from textcnn.engine.bundle import Bundle
from textcnn.engine.finish import StoreEvaluation
from textcnn.text.data import TextDataset
from textcnn.text.finish import train_prepared
from textcnn.text.options import TextTrainOptions
from textcnn.text.prepare import prepare_text


def train_text(
    train: TextDataset,
    opts: TextTrainOptions,
    dev: TextDataset | None = None,
    test: TextDataset | None = None,
    vectors: KeyedVectors | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    warm_start: Bundle | None = None,
    labels: list[str] | None = None,
    store_evaluation: StoreEvaluation | None = None,
) -> Bundle:
    """Train one model; ``dev`` defaults to a stratified holdout of ``train``.

    ``warm_start``: continue from that bundle's weights and vocabulary (``text.warmstart``).
    ``labels``: ``training_labels(train, dev, test)``, when the caller has checked them.
    ``store_evaluation``: records the evaluation a report is drawn from (``finish_bundle``).
    """
    prepared = prepare_text(train, opts, dev, test, vectors, warm_start, labels)
    return train_prepared(prepared, opts, on_epoch, store_evaluation)

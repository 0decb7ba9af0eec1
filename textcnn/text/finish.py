"""The end of text training: the terms fitted after the network (its n-gram scores, then the
sentence term), then the bundle, its dev score the whole model's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from textcnn.engine.bundle import Bundle
from textcnn.engine.device import resolve_device
from textcnn.engine.epochs import TrainResult
from textcnn.engine.finish import StoreEvaluation, finish_bundle
from textcnn.engine.trainer import Split, predict_logits
from textcnn.models.blocks import Classifier
from textcnn.text.nbsvm import fit_ngram_scores
from textcnn.text.options import TextTrainOptions
from textcnn.text.prepared import PreparedText, fit_prepared
from textcnn.text.sentence_term import fit_sentence_term, remembering


def train_prepared(
    prepared: PreparedText,
    opts: TextTrainOptions,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    store_evaluation: StoreEvaluation | None = None,
) -> Bundle:
    """Fit ``prepared`` (``fit_prepared``), then finish it (``finish_text``)."""
    result = fit_prepared([prepared], opts.train, on_epoch)[0]
    return finish_text(prepared, opts, result, store_evaluation)


def finish_text(
    prepared: PreparedText,
    opts: TextTrainOptions,
    result: TrainResult,
    store_evaluation: StoreEvaluation | None = None,
) -> Bundle:
    """The fitted model of ``prepared`` as a bundle, evaluated on its test data if any;
    its n-gram scores, if it has them, fitted first (``text.nbsvm``); ``store_evaluation``:
    see ``finish_bundle``."""
    with remembering():  # the dev and test texts' sentence embeddings, if any, are reused
        return _finish_text(prepared, opts, result, store_evaluation)


def _finish_text(
    prepared: PreparedText,
    opts: TextTrainOptions,
    result: TrainResult,
    store_evaluation: StoreEvaluation | None,
) -> Bundle:
    model = prepared.model.cpu()
    training: dict[str, Any] = {"dropped_lines": prepared.train.dropped_lines}
    if model.side is not None:
        training["ngrams"] = fit_ngram_scores(model, ngram_split(prepared), prepared.dev_split)
        prepared.model_config.ngram_rows = len(model.side.table)
    if model.input_term is not None and len(prepared.dev):
        device = resolve_device(opts.train.device)  # the encoder runs where training did
        training["sentence_encoder"] = fit_input_term(model, prepared, device, opts.sentence_int8)
        prepared.model_config.sentence_runtime = model.input_term.runtime
    if prepared.distilled is not None:
        training["distill"] = prepared.distilled
    return finish_bundle(
        model,
        arch="textcnn",
        model_config=prepared.model_config,
        processor=prepared.processor,
        labels=prepared.labels,
        options=opts,
        result=result,
        train=prepared.train,
        dev=prepared.dev,
        test=prepared.test,
        training=training,
        threshold=opts.threshold,
        dev_score=dev_score(result, training),
        store_evaluation=store_evaluation,
    )


def ngram_split(prepared: PreparedText) -> Split:
    """What n-gram scores are counted on: the training texts with their own labels. A
    distilled run's augmented copies (after them in ``train_split``) carry the teacher's
    decisions, which its soft labels already teach the network."""
    split = prepared.train_split
    if prepared.distilled is None:
        return split
    n = len(prepared.train)
    lengths = None if split.lengths is None else split.lengths[:n]
    return Split(split.x[:n], split.y[:n], lengths)


def dev_score(result: TrainResult, training: dict[str, Any]) -> float:
    """The whole model's dev score: with the sentence term's weight and gate, else with the
    n-gram scores' weight, as chosen on dev data; else the network's at its best epoch."""
    if "sentence_encoder" in training:
        return training["sentence_encoder"]["dev"]
    if "ngrams" in training and training["ngrams"]["dev_by_weight"]:
        return training["ngrams"]["dev_by_weight"][str(training["ngrams"]["weight"])]
    return result.best_dev_accuracy


@torch.no_grad()
def fit_input_term(
    model: Classifier,
    prepared: PreparedText,
    device: torch.device | None = None,
    int8: bool = False,
) -> dict[str, Any]:
    """Fit ``model.input_term`` (a ``SentenceTerm``) on the training texts and choose its
    weight and gate on dev data, beside the network as it stands, n-gram scores included, and
    (``int8``) its encoder's runtime (``text.sentence_term``), its encoder on ``device``;
    returns what to record of it."""
    dev = prepared.dev_split
    network = predict_logits(model, dev.x.cpu(), lengths=dev.lengths.cpu()).cpu()
    return fit_sentence_term(
        model.input_term,
        prepared.train.texts,
        prepared.train_split.y,
        prepared.dev.texts,
        dev.y,
        network,
        device,
        int8,
    )

"""Evaluate a predictor on labelled inputs of any modality."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textcnn.engine.metrics import classification_report
from textcnn.engine.multilabel import label_matrix, multilabel_report
from textcnn.engine.predictor import Predictor
from textcnn.errors import DataError


def evaluate(
    predictor: Predictor,
    items: Sequence[Any],
    labels: Sequence[str] | Sequence[Sequence[str]],
    source: str = "data",
) -> dict[str, Any]:
    """The classification report of ``predictor`` on ``items`` with gold ``labels``: one
    label per item, or for a multi-label model one set per item (``splits.gold``)."""
    index = {label: i for i, label in enumerate(predictor.labels)}
    flat = [x for s in labels for x in s] if predictor.multi_label else labels
    if predictor.multi_label and any(isinstance(s, str) for s in labels):
        raise DataError(source, "a multi-label model needs a set of labels per example")
    unknown = sorted(set(flat) - set(index))
    if unknown:
        raise DataError(
            source,
            f"labels {unknown} are not among the model's labels ({', '.join(predictor.labels)})",
        )
    proba = predictor.predict_proba(items)
    if predictor.multi_label:
        truth = label_matrix(labels, predictor.labels)  # type: ignore[arg-type]
        report = multilabel_report(truth, predictor.decide(proba), predictor.labels)
        return {**report, "thresholds": predictor.thresholds}
    predicted = proba.argmax(dim=1).tolist()
    return classification_report([index[label] for label in labels], predicted, predictor.labels)

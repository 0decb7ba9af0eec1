"""Evaluate a predictor on labelled inputs of any modality."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textcnn.engine.metrics import classification_report
from textcnn.engine.predictor import Predictor
from textcnn.errors import DataError


def evaluate(
    predictor: Predictor, items: Sequence[Any], labels: Sequence[str], source: str = "data"
) -> dict[str, Any]:
    """The classification report of ``predictor`` on ``items`` with gold ``labels``."""
    index = {label: i for i, label in enumerate(predictor.labels)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise DataError(
            source,
            f"labels {unknown} are not among the model's labels ({', '.join(predictor.labels)})",
        )
    predicted = predictor.predict_proba(items).argmax(dim=1).tolist()
    return classification_report([index[label] for label in labels], predicted, predictor.labels)

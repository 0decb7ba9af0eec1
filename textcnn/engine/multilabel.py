"""Multi-label classification: label sets as 0/1 matrices, decision thresholds, metrics.

A multi-label model scores every class with its own sigmoid; an input gets every class whose
probability reaches that class's threshold (possibly none). Thresholds are tuned per class on
dev data for F1, since the 0.5 a sigmoid suggests suits rare classes badly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.metrics import precision_recall_fscore_support

DEFAULT_THRESHOLD = 0.5
HEADLINE = "micro_f1"  # what selects epochs, gates retraining and sums up CV


def label_matrix(label_sets: Sequence[Sequence[str]], labels: Sequence[str]) -> torch.Tensor:
    """``[N, C]`` float 0/1 targets, columns in ``labels`` order."""
    index = {label: i for i, label in enumerate(labels)}
    y = torch.zeros(len(label_sets), len(labels))
    for row, names in enumerate(label_sets):
        y[row, [index[name] for name in names]] = 1.0
    return y


def tune_thresholds(proba: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Per class, the threshold that maximises F1 of ``proba >= t`` against ``y`` ([N, C]).

    For each class the candidates are the cuts between consecutive sorted probabilities (the
    midpoint, so a slightly different score falls on the same side); a class without positives,
    or where no cut beats F1 0, keeps 0.5.
    """
    p, t = proba.double().numpy(), y.numpy() > 0.5
    thresholds = []
    for c in range(p.shape[1]):
        order = np.argsort(-p[:, c], kind="stable")
        scores, truth = p[order, c], t[order, c]
        positives = truth.sum()
        if positives == 0:
            thresholds.append(DEFAULT_THRESHOLD)
            continue
        tp = np.cumsum(truth)
        predicted = np.arange(1, len(scores) + 1)
        f1 = 2 * tp / (predicted + positives)
        f1[:-1][scores[1:] == scores[:-1]] = -1  # a cut must fall between distinct scores
        k = int(np.argmax(f1))  # predict the top k + 1 as positive
        if f1[k] <= 0:
            thresholds.append(DEFAULT_THRESHOLD)
            continue
        below = scores[k + 1] if k + 1 < len(scores) else 0.0
        thresholds.append(float((scores[k] + below) / 2))
    return thresholds


def decide(proba: torch.Tensor, thresholds: Sequence[float]) -> torch.Tensor:
    """``[N, C]`` booleans: each class's probability at or over its threshold."""
    return proba >= torch.tensor(thresholds, dtype=proba.dtype)


def samples_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean per-example F1; an example with no gold and no predicted label scores 1."""
    both = (y_true & y_pred).sum(1)
    size = y_true.sum(1) + y_pred.sum(1)
    f1 = np.where(size == 0, 1.0, 2 * both / np.maximum(size, 1))
    return float(f1.mean()) if len(f1) else 0.0


def multilabel_report(
    y_true: torch.Tensor | np.ndarray, y_pred: torch.Tensor | np.ndarray, labels: Sequence[str]
) -> dict[str, Any]:
    """Micro/macro/samples F1, subset accuracy, Hamming loss and per-class P/R/F1/support.

    ``y_true`` and ``y_pred`` are ``[N, C]`` 0/1 matrices, columns in ``labels`` order.
    """
    t, p = np.asarray(y_true) > 0.5, np.asarray(y_pred) > 0.5
    n = len(t)

    def prf(average: str | None) -> tuple[Any, Any, Any, Any]:
        return precision_recall_fscore_support(t, p, average=average, zero_division=0)

    pc, rc, fc, sc = prf(None)
    micro_p, micro_r, micro_f, _ = prf("micro")
    return {
        "examples": int(n),
        "micro_f1": float(micro_f),
        "micro_precision": float(micro_p),
        "micro_recall": float(micro_r),
        "macro_f1": float(np.mean(fc)) if len(labels) else 0.0,
        "samples_f1": samples_f1(t, p),
        "subset_accuracy": float((t == p).all(1).mean()) if n else 0.0,
        "hamming_loss": float((t != p).mean()) if t.size else 0.0,
        "no_label": {"gold": int((~t.any(1)).sum()), "predicted": int((~p.any(1)).sum())},
        "per_class": {
            label: {
                "precision": float(pc[i]),
                "recall": float(rc[i]),
                "f1": float(fc[i]),
                "support": int(sc[i]),
            }
            for i, label in enumerate(labels)
        },
        "labels": list(labels),
    }

"""Multi-label metrics, threshold tuning and the binary cross-entropy objective."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, hamming_loss

from textcnn.engine.config import TrainConfig
from textcnn.engine.multilabel import label_matrix, multilabel_report, tune_thresholds
from textcnn.engine.trainer import Identity, Split, accuracy, hits, loss_of

LABELS = ["a", "b", "c"]


def test_label_matrix_puts_each_set_in_label_order() -> None:
    y = label_matrix([("b",), (), ("a", "c")], LABELS)
    assert y.tolist() == [[0, 1, 0], [0, 0, 0], [1, 0, 1]]


def test_report_agrees_with_sklearn() -> None:
    rng = np.random.default_rng(0)
    t, p = rng.random((40, 3)) < 0.4, rng.random((40, 3)) < 0.4
    t[0], p[0] = False, False  # an example with no label, predicted as such
    r = multilabel_report(t, p, LABELS)
    assert r["micro_f1"] == pytest.approx(f1_score(t, p, average="micro"))
    assert r["macro_f1"] == pytest.approx(f1_score(t, p, average="macro"))
    assert r["hamming_loss"] == pytest.approx(hamming_loss(t, p))
    assert r["subset_accuracy"] == pytest.approx((t == p).all(1).mean())
    empty = ~t.any(1) & ~p.any(1)  # nothing to find and nothing found: scores 1
    f1 = f1_score(t[~empty], p[~empty], average="samples", zero_division=0)
    assert r["samples_f1"] == pytest.approx((f1 * (~empty).sum() + empty.sum()) / 40)
    assert r["per_class"]["b"]["support"] == int(t[:, 1].sum())


def test_a_perfect_and_an_empty_prediction() -> None:
    t = np.array([[1, 0, 1], [0, 1, 0]])
    assert multilabel_report(t, t, LABELS)["micro_f1"] == 1.0
    nothing = multilabel_report(t, np.zeros_like(t), LABELS)
    assert (nothing["micro_f1"], nothing["subset_accuracy"]) == (0.0, 0.0)
    assert nothing["no_label"] == {"gold": 0, "predicted": 2}


def test_thresholds_maximise_dev_f1_per_class() -> None:
    proba = torch.tensor([[0.9, 0.2, 0.5], [0.7, 0.15, 0.5], [0.3, 0.1, 0.5], [0.1, 0.05, 0.5]])
    y = torch.tensor([[1.0, 1, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0]])
    a, b, c = tune_thresholds(proba, y)
    assert a == pytest.approx(0.5)  # between 0.7 and 0.3
    assert b == pytest.approx(0.125)  # rare, low scores: far below 0.5
    assert c == 0.5  # no positives: the default
    chosen = proba >= torch.tensor([a, b, c])
    assert chosen[:, :2].tolist() == y[:, :2].bool().tolist()


def test_tied_scores_are_never_split() -> None:
    proba = torch.tensor([[0.6], [0.6], [0.2]])
    y = torch.tensor([[1.0], [0.0], [0.0]])
    (t,) = tune_thresholds(proba, y)
    assert (proba[:, 0] >= t).tolist() in ([True, True, False], [True, True, True])


def test_the_objective_follows_the_targets() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5], [-3.0, 1.0, -0.2]])
    y = torch.tensor([[1.0, 0, 1], [0, 1, 1]])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="sum") / 2
    assert loss_of(logits, y, TrainConfig()) == pytest.approx(bce.item())
    assert hits(logits, y).item() == 1  # the second misses its third label
    model = torch.nn.Identity()
    f1 = accuracy(model, Split(logits, y), Identity(), TrainConfig())
    assert f1 == pytest.approx(2 * 3 / (3 + 4))

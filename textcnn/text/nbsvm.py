"""Fit a TextCNN's n-gram scores (``NgramScores``) by NBSVM, and their weight on dev data.

NBSVM (Wang & Manning 2012): per class, the naive-Bayes log-count ratio ``r`` of each feature
scales the features of a linear L2-loss SVM, whose weights are then interpolated with their
mean magnitude. On sentiment data it is as good as a CNN on word vectors, and the two err on
different texts: their product of probabilities beats both (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from scipy import sparse
from sklearn.svm import LinearSVC

from textcnn.engine.trainer import Split, predict_logits, split_score
from textcnn.models.blocks import Classifier
from textcnn.models.textcnn import NgramScores

log = logging.getLogger(__name__)
# Candidate weights of the n-gram scores against the CNN's logits; 0 keeps the CNN alone.
WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


def nbsvm_weights(
    f: sparse.csr_matrix,
    positive: np.ndarray,
    alpha: float = 1.0,
    beta: float = 0.25,
    c: float = 1.0,
) -> tuple[np.ndarray, float]:
    """One binary NBSVM on feature counts ``f`` ``[N, F]``: a score per feature and a bias,
    ``f @ weights + bias`` the decision. Features no text has score 0 and count in no sum.

    ``r = log((p / |p|_1) / (q / |q|_1))``, ``p = alpha + `` the counts over the positive
    texts, ``q`` over the rest; the SVM (``C = c``) learns ``w`` on ``r * f``; the scores are
    ``r * ((1 - beta) * mean(|w|) + beta * w)``.
    """
    seen = np.asarray(f.sum(axis=0)).ravel() > 0
    p = np.where(seen, alpha + np.asarray(f[positive].sum(axis=0)).ravel(), 0.0)
    q = np.where(seen, alpha + np.asarray(f[~positive].sum(axis=0)).ravel(), 0.0)
    r = np.zeros(f.shape[1])
    r[seen] = np.log(p[seen] / p.sum()) - np.log(q[seen] / q.sum())
    svm = LinearSVC(C=c, loss="squared_hinge", dual=True, max_iter=10_000)
    svm.fit(f.multiply(r).tocsr(), positive.astype(int))
    w = svm.coef_.ravel()
    w = (1 - beta) * np.abs(w[seen]).mean() + beta * w
    return r * w, float(svm.intercept_[0])


def feature_counts(ngrams: NgramScores, ids: torch.Tensor) -> sparse.csr_matrix:
    """``[N, features]`` counts of each text's features (feature 0, no feature, left out)."""
    rows = ngrams.features(ids.cpu()).numpy()
    row_of = np.repeat(np.arange(len(rows)), rows.shape[1])
    cols = rows.ravel()
    keep = cols > 0
    return sparse.csr_matrix(
        (np.ones(int(keep.sum())), (row_of[keep], cols[keep])),
        shape=(len(rows), len(ngrams.index)),
    )


@torch.no_grad()
def unweighted_scores(ngrams: NgramScores, x: torch.Tensor) -> torch.Tensor:
    """``ngrams``' class scores of ids ``x`` at weight 1, on the CPU, in chunks of 1024 rows;
    its weight is left at 0 (the CNN alone), for the caller to set."""
    ngrams.weight.fill_(1.0)
    side = torch.cat([ngrams(x[i : i + 1024].cpu()) for i in range(0, len(x), 1024)])
    ngrams.weight.zero_()
    return side


@torch.no_grad()
def fit_ngram_scores(model: Classifier, train: Split, dev: Split) -> dict[str, Any]:
    """Fit ``model.side``, its ``NgramScores``, on ``train`` (one NBSVM per class, a single
    one for two classes, split +-1/2 over their columns, one per label for multi-label data),
    then set their weight to the candidate with the best dev score of the whole network (ties:
    the smaller). Returns what to record of it."""
    ngrams = model.side
    assert isinstance(ngrams, NgramScores)
    f = feature_counts(ngrams, train.x)
    seen = np.flatnonzero(np.asarray(f.sum(axis=0)).ravel() > 0)
    f = f[:, seen]  # the table keeps rows for these only
    y = train.y.cpu().numpy()
    classes = ngrams.table.shape[1]
    scores = np.zeros((len(seen), classes), dtype=np.float32)
    bias = np.zeros(classes, dtype=np.float32)
    binary = classes == 2 and not train.multi_label
    for k in [1] if binary else range(classes):
        positive = y[:, k] > 0.5 if train.multi_label else y == k
        if positive.all() or not positive.any():
            continue  # a label every text has, or none: nothing to separate
        scores[:, k], bias[k] = nbsvm_weights(f, positive)
    if binary:
        # two exclusive classes need one problem, its decision s split as -s/2 and +s/2 (as
        # the sentence term does): the same difference of logits, so the same probabilities,
        # and each class's column holds the features that speak for it, for explanations
        scores[:, 1], bias[1] = scores[:, 1] / 2, bias[1] / 2
        scores[:, 0], bias[0] = -scores[:, 1], -bias[1]
    ngrams.set_scores(torch.from_numpy(seen), torch.from_numpy(scores), torch.from_numpy(bias))
    ngrams.weight.zero_()
    if not len(dev):
        log.warning("no dev data to weigh the n-gram scores by: the CNN decides alone")
        return {"buckets": ngrams.buckets, "weight": 0.0, "dev_by_weight": {}}
    cnn = predict_logits(model, dev.x, lengths=dev.lengths).cpu()
    side = unweighted_scores(ngrams, dev.x)
    dev_cpu = Split(dev.x.cpu(), dev.y.cpu())
    by_weight = {w: split_score(cnn + w * side, dev_cpu) for w in WEIGHTS}
    best = max(WEIGHTS, key=lambda w: (by_weight[w], -w))
    ngrams.weight.fill_(best)
    log.info(
        "n-gram scores: weight %g (dev %.4f; the CNN alone %.4f)",
        best,
        by_weight[best],
        by_weight[0.0],
    )
    return {
        "buckets": ngrams.buckets,
        "features": len(seen),
        "weight": best,
        "dev_by_weight": {str(w): round(v, 5) for w, v in by_weight.items()},
    }

"""NBSVM (Wang & Manning 2012): an SVM on naive-Bayes log-count-ratio scaled binary n-grams.

Features are binarised uni+bigram indicators ``f``; per class the log-count ratio
``r = log((p / |p|_1) / (q / |q|_1))`` with ``p = alpha + sum of f over the class``,
``q`` the same over the rest (``alpha = 1``); a linear L2-loss SVM (liblinear, ``C = 1``)
is trained on ``r * f`` and its weights interpolated with their mean magnitude,
``w' = (1 - beta) * mean(|w|) + beta * w`` with ``beta = 0.25``. More than two classes:
one-vs-rest, highest score wins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.svm import LinearSVC


class NBSVM:
    def __init__(
        self,
        tokenizer: Callable[[str], list[str]],
        ngrams: tuple[int, int] = (1, 2),
        alpha: float = 1.0,
        beta: float = 0.25,
        c: float = 1.0,
    ) -> None:
        self.vectorizer = CountVectorizer(
            tokenizer=tokenizer,
            token_pattern=None,
            lowercase=False,
            ngram_range=ngrams,
            binary=True,
        )
        self.alpha, self.beta, self.c = alpha, beta, c
        self.classes: list[str] = []
        self.ratios: list[np.ndarray] = []
        self.weights: list[np.ndarray] = []
        self.biases: list[float] = []

    def _one(
        self, f: sparse.csr_matrix, positive: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, float]:
        p = self.alpha + np.asarray(f[positive].sum(axis=0)).ravel()
        q = self.alpha + np.asarray(f[~positive].sum(axis=0)).ravel()
        r = np.log((p / p.sum()) / (q / q.sum()))
        svm = LinearSVC(C=self.c, loss="squared_hinge", dual=True, max_iter=10_000)
        svm.fit(f.multiply(r).tocsr(), positive.astype(int))
        w = svm.coef_.ravel()
        w = (1 - self.beta) * np.abs(w).mean() + self.beta * w
        return r, w, float(svm.intercept_[0])

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> NBSVM:
        f = self.vectorizer.fit_transform(texts).tocsr()
        y = np.asarray(labels)
        self.classes = sorted(set(labels))
        # Two classes need one binary problem; more get one-vs-rest.
        targets = self.classes[1:] if len(self.classes) == 2 else self.classes
        self.ratios, self.weights, self.biases = [], [], []
        for cls in targets:
            r, w, b = self._one(f, y == cls)
            self.ratios.append(r)
            self.weights.append(w)
            self.biases.append(b)
        return self

    def decision(self, texts: Sequence[str]) -> np.ndarray:
        f = self.vectorizer.transform(texts).tocsr()
        return np.stack(
            [
                f.multiply(r).tocsr() @ w + b
                for r, w, b in zip(self.ratios, self.weights, self.biases, strict=True)
            ],
            axis=1,
        )

    def predict(self, texts: Sequence[str]) -> list[str]:
        scores = self.decision(texts)
        if len(self.classes) == 2:
            return [self.classes[int(s > 0)] for s in scores[:, 0]]
        return [self.classes[i] for i in scores.argmax(axis=1)]

    def accuracy(self, texts: Sequence[str], labels: Sequence[str]) -> float:
        predicted = self.predict(texts)
        return float(np.mean([p == y for p, y in zip(predicted, labels, strict=True)]))

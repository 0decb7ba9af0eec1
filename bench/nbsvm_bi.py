"""NBSVM (Wang & Manning 2012): an SVM on naive-Bayes log-count-ratio scaled binary n-grams.

Features are binarised uni+bigram indicators ``f``; per class the log-count ratio
``r = log((p / |p|_1) / (q / |q|_1))`` with ``p = alpha + sum of f over the class``,
``q`` the same over the rest (``alpha = 1``); a linear L2-loss SVM (liblinear, ``C = 1``)
is trained on ``r * f`` and its weights interpolated with their mean magnitude,
``w' = (1 - beta) * mean(|w|) + beta * w`` with ``beta = 0.25`` (``textcnn.text.nbsvm``, which
the default recipe's n-gram scores use too). More than two classes: one-vs-rest, highest score
wins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

from textcnn.text.nbsvm import nbsvm_weights


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
        self.weights: list[np.ndarray] = []  # per binary problem, a score per feature
        self.biases: list[float] = []

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> NBSVM:
        f = self.vectorizer.fit_transform(texts).tocsr()
        y = np.asarray(labels)
        self.classes = sorted(set(labels))
        # Two classes need one binary problem; more get one-vs-rest.
        targets = self.classes[1:] if len(self.classes) == 2 else self.classes
        self.weights, self.biases = [], []
        for cls in targets:
            w, b = nbsvm_weights(f, y == cls, self.alpha, self.beta, self.c)
            self.weights.append(w)
            self.biases.append(b)
        return self

    def decision(self, texts: Sequence[str]) -> np.ndarray:
        f = self.vectorizer.transform(texts).tocsr()
        return np.stack([f @ w + b for w, b in zip(self.weights, self.biases, strict=True)], axis=1)

    def predict(self, texts: Sequence[str]) -> list[str]:
        scores = self.decision(texts)
        if len(self.classes) == 2:
            return [self.classes[int(s > 0)] for s in scores[:, 0]]
        return [self.classes[i] for i in scores.argmax(axis=1)]

    def accuracy(self, texts: Sequence[str], labels: Sequence[str]) -> float:
        predicted = self.predict(texts)
        return float(np.mean([p == y for p, y in zip(predicted, labels, strict=True)]))

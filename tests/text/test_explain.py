"""Exact n-gram explanations of TextCNN predictions."""

from __future__ import annotations

import pytest
import torch

from textcnn.engine.bundle import Bundle
from textcnn.engine.predictor import Predictor
from textcnn.text.explain import explain


def test_the_top_ngram_holds_the_cue_word(text_bundle: Bundle) -> None:
    texts = ["my movie was really terrible", "the wonderful day", "where is the food store"]
    for text, cue, e in zip(
        texts,
        ["terrible", "wonderful", "where"],
        explain(Predictor(text_bundle), texts),
        strict=True,
    ):
        assert e.tokens == text.split()
        top = e.ngrams[0]
        assert cue in e.tokens[top.start : top.end] and cue in top.ngram.split()
        assert all(n.contribution > 0 for n in e.ngrams) and len(e.ngrams) <= 5


def test_contributions_add_up_to_the_logit(text_bundle: Bundle) -> None:
    predictor = Predictor(text_bundle)
    texts = ["why", "it was so very awful thing people story place", "!!!", "$$$"]
    logits = predictor.logits_from_tensor(predictor.encode(texts))
    for row, e in enumerate(explain(predictor, texts, top=None)):
        c = predictor.labels.index(e.prediction.label)
        assert e.logit == pytest.approx(float(logits[row, c]), abs=1e-4)
        total = e.bias + sum(n.contribution for n in e.ngrams)
        assert total == pytest.approx(e.logit, abs=1e-4)
        assert e.prediction.label == predictor.labels[int(logits[row].argmax())]
        for n in e.ngrams:
            assert 0 <= n.start < n.end <= len(e.tokens) or (n.start, n.end, e.tokens) == (0, 0, [])


def test_explanations_match_the_predictions(text_bundle: Bundle) -> None:
    predictor = Predictor(text_bundle)
    texts = ["how", "great film", "the"]
    for e, p in zip(explain(predictor, texts), predictor.predict(texts), strict=True):
        assert e.prediction.label == p.label
        assert torch.tensor(e.prediction.score) == pytest.approx(p.score, abs=1e-6)


def test_explanations_run_in_the_predictions_precision(text_bundle: Bundle) -> None:
    from tests.conftest import make_keyword_examples

    texts = [text for _, text in make_keyword_examples(60, seed=5)]
    predictor = Predictor(text_bundle, precision="bf16")
    predictions = predictor.predict(texts)
    explained = explain(predictor, texts)
    for prediction, e in zip(predictions, explained, strict=True):
        assert e.prediction.label == prediction.label
        assert e.prediction.score == pytest.approx(prediction.score, abs=1e-6)
    fp32 = Predictor(text_bundle).predict(texts)
    assert [p.score for p in fp32] != [p.score for p in predictions]  # bf16 did differ

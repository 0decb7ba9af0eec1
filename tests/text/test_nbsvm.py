"""The n-gram scores beside the CNN: NBSVM's fit, the weight chosen on dev data, bundles."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import sparse

from tests.conftest import make_keyword_examples, write_label_text
from textcnn.engine.bundle import Bundle, load_bundle
from textcnn.engine.predictor import Predictor
from textcnn.engine.trainer import Split, TrainConfig, predict_logits, split_score
from textcnn.errors import TextCNNError
from textcnn.text.data import read_text_dataset
from textcnn.text.explain import explain
from textcnn.text.nbsvm import WEIGHTS, nbsvm_weights
from textcnn.text.prepare import prepare_text
from textcnn.text.prepared import fit_prepared
from textcnn.text.recipes import recipe_options
from textcnn.text.train import TextTrainOptions, train_text


def test_nbsvm_scores_follow_the_log_count_ratios_and_skip_unseen_features() -> None:
    # feature 0 only in positive texts, 1 only in negative ones, 2 in both, 3 in none
    f = sparse.csr_matrix(np.array([[1, 0, 1, 0], [2, 0, 1, 0], [0, 1, 1, 0], [0, 3, 1, 0]]))
    positive = np.array([True, True, False, False])
    scores, bias = nbsvm_weights(f, positive)
    assert scores[0] > 0 > scores[1] and scores[3] == 0
    assert abs(scores[2]) < min(scores[0], -scores[1])  # r = log(2/5 / 2/6): small
    decision = f @ scores + bias
    assert (decision > 0).tolist() == positive.tolist()


def test_the_fit_keeps_seen_features_and_picks_the_best_dev_weight(text_bundle: Bundle) -> None:
    ngrams = text_bundle.model.side
    record = text_bundle.training["ngrams"]
    assert record["weight"] in WEIGHTS and record["buckets"] == ngrams.buckets
    assert len(ngrams.table) == record["features"] + 1 == text_bundle.model_config.ngram_rows
    assert ngrams.table[0].abs().sum() == 0 and float(ngrams.weight) == record["weight"]
    by_weight = record["dev_by_weight"]
    assert set(by_weight) == {str(w) for w in WEIGHTS}
    assert by_weight[str(record["weight"])] == max(by_weight.values())
    assert text_bundle.metrics["dev_accuracy"] == by_weight[str(record["weight"])]


def test_the_scores_carry_a_weak_cnn(keyword_files: dict[str, Path]) -> None:
    """A CNN that has barely trained: the dev data pick the n-gram scores, which know the cues."""
    train = TrainConfig(epochs=1, lr=1e-5, optimizer="adam", progress=False, seed=0, threads=1)
    opts = TextTrainOptions(mode="rand", dim=8, feature_maps=4, train=train)
    bundle = train_text(read_text_dataset(keyword_files["train"]), opts)
    by_weight = bundle.training["ngrams"]["dev_by_weight"]
    assert bundle.training["ngrams"]["weight"] > 0
    assert by_weight[str(bundle.training["ngrams"]["weight"])] >= by_weight["0.0"] + 0.3
    assert recipe_options("kim2014").ngram_buckets == 0
    with pytest.raises(TextCNNError, match="ngram_buckets"):
        recipe_options(ngram_buckets=-1)
    kim = recipe_options("kim2014", dim=8, feature_maps=4, epochs=1, threads=1, progress=False)
    assert train_text(read_text_dataset(keyword_files["train"]), kim).model.side is None


def test_the_dev_score_is_the_whole_networks(text_bundle: Bundle) -> None:
    processor, model = text_bundle.processor, text_bundle.model
    dev = text_bundle.training["examples"]["dev"]
    assert dev > 0
    texts = ["terrible day", "wonderful film", "where is it"]
    ids = processor.encode(texts)
    y = Predictor(text_bundle).predict_proba(texts).argmax(1)
    logits = predict_logits(model, ids, lengths=(ids != 0).sum(1))
    assert split_score(logits, Split(ids, torch.as_tensor(y))) == 1.0


def test_a_bundle_round_trip_keeps_the_scores(text_bundle: Bundle, tmp_path: Path) -> None:
    loaded = load_bundle(text_bundle.save(tmp_path / "m"))
    texts = ["my movie was really terrible", "the wonderful day", "where is the food store"]
    np.testing.assert_allclose(
        Predictor(loaded).predict_proba(texts), Predictor(text_bundle).predict_proba(texts)
    )
    torch.testing.assert_close(loaded.model.side.index, text_bundle.model.side.index)


def test_explanations_add_the_scores_of_words_and_pairs(text_bundle: Bundle) -> None:
    bundle = copy.deepcopy(text_bundle)
    ngrams = bundle.model.side
    predictor = Predictor(bundle)
    texts = ["it was terrible", "wonderful film", "where"]
    ids = predictor.encode(texts)
    for weight in (0.0, 2.0):
        ngrams.weight.fill_(weight)
        logits = predictor.logits_from_tensor(ids)
        for row, e in enumerate(explain(predictor, texts, top=None)):
            c = bundle.labels.index(e.prediction.label)
            assert e.logit == pytest.approx(float(logits[row, c]), abs=1e-4)
            assert e.bias + sum(n.contribution for n in e.ngrams) == pytest.approx(
                e.logit, abs=1e-4
            )
    # the cue word alone: its own row of the table, scaled, is part of its span's contribution
    e = explain(predictor, ["terrible"], top=None)[0]
    row = int(ngrams.index[ngrams.features(predictor.encode(["terrible"]))[0, 0]])
    without = copy.deepcopy(bundle)
    without.model.side.weight.zero_()
    alone = explain(Predictor(without), ["terrible"], top=None)[0]
    c = bundle.labels.index(e.prediction.label)
    assert row > 0 and e.prediction.label == alone.prediction.label
    span = {(n.start, n.end): n.contribution for n in e.ngrams}[0, 1]
    cnn_span = {(n.start, n.end): n.contribution for n in alone.ngrams}[0, 1]
    assert span - cnn_span == pytest.approx(2.0 * float(ngrams.table[row, c]), abs=1e-4)


@pytest.fixture(scope="module")
def binary_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """Two classes and a CNN that has barely trained: the n-gram scores decide both."""
    rows = [r for r in make_keyword_examples(300, seed=1) if r[0] != "question"]
    path = write_label_text(tmp_path_factory.mktemp("binary") / "train.txt", rows)
    train = TrainConfig(epochs=1, lr=1e-5, optimizer="adam", progress=False, seed=0, threads=1)
    opts = TextTrainOptions(mode="rand", dim=8, feature_maps=4, train=train)
    return train_text(read_text_dataset(path), opts)


def test_both_labels_of_a_binary_model_are_explained_by_their_ngram_rows(
    binary_bundle: Bundle,
) -> None:
    ngrams = binary_bundle.model.side
    assert float(ngrams.weight) > 0 and binary_bundle.labels == ["negative", "positive"]
    predictor = Predictor(binary_bundle)
    ngrams_alone = copy.deepcopy(binary_bundle)  # the CNN's head zeroed: only the rows speak
    ngrams_alone.model.head.linear.weight.data.zero_()
    ngrams_alone.model.head.linear.bias.data.zero_()
    texts, cues = ["it was terrible", "the wonderful film"], ["terrible", "wonderful"]
    explained = explain(predictor, texts)
    for text, cue, e, alone in zip(
        texts, cues, explained, explain(Predictor(ngrams_alone), texts), strict=True
    ):
        assert e.prediction.label == alone.prediction.label
        assert e.prediction.label == ("negative" if cue == "terrible" else "positive")
        assert e.ngrams[0].ngram == cue  # the n-gram row decided it, and the explanation says so
        c = binary_bundle.labels.index(e.prediction.label)
        row = int(ngrams.index[ngrams.features(predictor.encode([cue]))[0, 0]])
        value = float(ngrams.weight * ngrams.table[row, c])
        t = text.split().index(cue)
        assert (alone.ngrams[0].start, alone.ngrams[0].end) == (t, t + 1)
        assert value > 0.4 and alone.ngrams[0].contribution == pytest.approx(value, abs=1e-5)
    # one decision split over the two columns: -s/2 and +s/2, every row and the bias
    torch.testing.assert_close(ngrams.table[:, 0], -ngrams.table[:, 1])
    torch.testing.assert_close(ngrams.bias[0], -ngrams.bias[1])


def test_splitting_the_binary_scores_moves_no_prediction(
    binary_bundle: Bundle, tmp_path: Path
) -> None:
    """The scores as one column (+s, 0) give the same probabilities as the split (+s/2, -s/2),
    in PyTorch and in the ONNX export."""
    texts = [t for _, t in make_keyword_examples(60, seed=7)] + ["", "terrible wonderful"]
    split = Predictor(binary_bundle).predict_proba(texts)
    one_column = copy.deepcopy(binary_bundle)
    side = one_column.model.side
    side.table[:, 1] -= side.table[:, 0]
    side.table[:, 0] = 0
    side.bias[1] -= side.bias[0]
    side.bias[0] = 0
    before = Predictor(one_column).predict_proba(texts)
    np.testing.assert_allclose(split, before, atol=1e-6)
    assert (split.argmax(1) == before.argmax(1)).all() and len(set(split.argmax(1).tolist())) == 2
    pytest.importorskip("onnxruntime")
    from textcnn.export import export_onnx
    from textcnn.export.consumer import ExportedModel

    exported = ExportedModel(export_onnx(binary_bundle, tmp_path / "m.onnx").contract_path)
    np.testing.assert_allclose(exported.predict_proba(texts), split, atol=1e-4)


def test_training_steps_leave_the_unfitted_scores_out(keyword_files: dict[str, Path]) -> None:
    """Their weight is 0 until the CNN has trained: a training step that ran them would pay
    for an all-zero term; evaluation still runs them (the dev score is the whole network's)."""
    train = TrainConfig(epochs=2, batch_size=50, progress=False, seed=0, threads=1)
    opts = TextTrainOptions(mode="rand", dim=8, feature_maps=4, train=train)
    prepared = prepare_text(read_text_dataset(keyword_files["train"]), opts)
    calls: list[bool] = []
    prepared.model.side.register_forward_hook(lambda m, args, out: calls.append(m.training))
    fit_prepared([prepared], opts.train)
    assert calls and not any(calls)  # evaluations only, never a training step

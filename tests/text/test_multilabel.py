"""Multi-label text: label sets in every file format, training, thresholds, predictions, CV."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import multilabel_options
from textcnn.engine.bundle import Bundle, load_bundle
from textcnn.engine.evaluate import evaluate
from textcnn.engine.predictor import Predictor
from textcnn.errors import DataError, TextCNNError
from textcnn.modalities import get_modality
from textcnn.text.cross_validation import cross_validate
from textcnn.text.data import TextReadOptions, read_text_dataset
from textcnn.text.explain import explain
from textcnn.text.train import train_text

SETS = [("a", "b"), (), ("b",), ("a", "c")]


def read(path: Path, **options: object) -> list[tuple[str, ...]] | None:
    opts = TextReadOptions(multi_label=True, **options)  # type: ignore[arg-type]
    return get_modality("text").read(path, opts).label_sets


def test_jsonl_lists_strings_and_the_empty_set(tmp_path: Path) -> None:
    lines = [
        {"text": "one", "labels": ["b", "a", "a"]},
        {"text": "two", "labels": []},
        {"text": "three", "labels": "b"},
        {"text": "four", "labels": "c|a"},
    ]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert read(path) == SETS
    path.write_text(json.dumps({"text": "x", "tags": ["a"]}) + "\n")
    assert read(path, label_column="tags") == [("a",)]


@pytest.mark.parametrize(
    ("suffix", "body", "options"),
    [
        (".csv", 'text,label\none,a|b\ntwo,\nthree,b\n"four, quoted",c|a\n', {}),
        (".tsv", "text\tlabel\none\ta;b\ntwo\t\nthree\tb\nfour\tc; a\n", {"label_separator": ";"}),
        (".txt", "a,b one\n, two\nb three\nc,a four\n", {}),
    ],
)
def test_tables_and_label_text_lines(tmp_path: Path, suffix: str, body: str, options) -> None:
    path = tmp_path / f"d{suffix}"
    path.write_text(body)
    assert read(path, **options) == SETS


def test_multi_label_data_needs_the_multi_label_reader(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": "x", "labels": ["a"]}) + "\n")
    with pytest.raises(DataError, match="multi-label data needs `multi_label`"):
        read_text_dataset(path)
    path.write_text(json.dumps({"text": "x", "labels": {"a": 1}}) + "\n")
    with pytest.raises(DataError, match="list of strings"):
        read_text_dataset(path, separator="|")


def test_training_checks_the_data_matches_the_mode(multilabel_files, keyword_files) -> None:
    single = read_text_dataset(keyword_files["train"])
    multi = read_text_dataset(multilabel_files["train"], separator="|")
    with pytest.raises(DataError, match="needs label sets"):
        train_text(single, multilabel_options())
    with pytest.raises(DataError, match="single-label model"):
        train_text(multi, multilabel_options(multi_label=False))
    with pytest.raises(TextCNNError, match="`threshold` applies to multi-label"):
        multilabel_options(multi_label=False, threshold=0.3)


def test_trained_bundle_scores_and_thresholds(multilabel_bundle: Bundle, tmp_path: Path) -> None:
    bundle = load_bundle(multilabel_bundle.save(tmp_path / "b"))
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["multi_label"] is True
    assert len(config["thresholds"]) == 3 and all(0 < t < 1 for t in config["thresholds"])
    assert bundle.multi_label and bundle.thresholds == config["thresholds"]
    assert bundle.training["examples"]["no_label"] > 0
    report = bundle.metrics["test"]
    assert bundle.metrics["test_micro_f1"] == report["micro_f1"] > 0.9
    assert report["no_label"]["gold"] == 15  # one text in six has no cue word
    predictor = Predictor(bundle)
    texts = ["why was it awful", "the film", "loved it , how wonderful and so terrible"]
    got = predictor.predict(texts)
    assert [set(p.labels or ()) for p in got] == [
        {"question", "negative"},
        set(),
        {"positive", "negative", "question"},
    ]
    proba = predictor.predict_proba(texts)
    assert not torch.allclose(proba.sum(1), torch.ones(3))  # a sigmoid per label
    assert [s for _, s in got[1].scores] == sorted(proba[1].tolist(), reverse=True)
    everything = Predictor(bundle, threshold=0.0).predict(texts)
    assert all(len(p.labels or ()) == 3 for p in everything)
    assert got[1].with_threshold(0.0).labels == [label for label, _ in got[1].scores]


def test_a_global_threshold_at_training_replaces_the_tuned_ones(multilabel_files) -> None:
    train = read_text_dataset(multilabel_files["train"], separator="|")
    opts = multilabel_options(threshold=0.3)
    opts.train.epochs = 1
    assert train_text(train, opts).thresholds == [0.3, 0.3, 0.3]


def test_evaluate_reports_multi_label_metrics(multilabel_bundle: Bundle, multilabel_files) -> None:
    test = read_text_dataset(multilabel_files["test"], separator="|")
    report = evaluate(Predictor(multilabel_bundle), test.texts, test.label_sets, test.path)
    assert report == {**multilabel_bundle.metrics["test"], "thresholds": report["thresholds"]}
    for key in ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss"):
        assert 0 <= report[key] <= 1
    assert set(report["per_class"]) == {"negative", "positive", "question"}
    with pytest.raises(DataError, match="a set of labels per example"):
        evaluate(Predictor(multilabel_bundle), test.texts, test.labels, test.path)


def test_explanations_cover_each_predicted_label(multilabel_bundle: Bundle) -> None:
    predictor = Predictor(multilabel_bundle)
    (e,) = explain(predictor, ["why was it so awful"], top=None)
    assert [x.label for x in e.labels or []] == e.prediction.labels
    for each in e.labels or []:
        assert each.bias + sum(n.contribution for n in each.ngrams) == pytest.approx(
            each.logit, abs=1e-4
        )
    cue = {"question": "why", "negative": "awful"}
    for each in e.labels or []:
        assert cue[each.label] in each.ngrams[0].ngram.split()
    assert e.to_dict()["labels"][0]["label"] == e.prediction.labels[0]


def test_cross_validation_summarises_multi_label_metrics(multilabel_files) -> None:
    data = read_text_dataset(multilabel_files["train"], separator="|")
    opts = multilabel_options()
    opts.train.epochs = 3
    cv = cross_validate(data.subset(list(range(150))), opts, 2)
    assert cv["multi_label"] and len(cv["folds"]) == 2
    for key in ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss"):
        values = [f[f"test_{key}"] for f in cv["folds"]]
        assert cv[f"mean_{key}"] == pytest.approx(sum(values) / 2)
    assert "dev_micro_f1" in cv["folds"][0]

"""Retraining a multi-label model: warm start, the micro-F1 gate, the data it needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_multilabel_examples, multilabel_options, write_multilabel_jsonl
from textcnn.engine.bundle import Bundle
from textcnn.errors import DataError, TextCNNError
from textcnn.retrain import retrain
from textcnn.store import LocalStore, ModelStore
from textcnn.text.data import read_text_dataset
from textcnn.text.train import train_text

NAME = "tags"


@pytest.fixture
def registry(tmp_path: Path, multilabel_bundle: Bundle) -> ModelStore:
    reg = LocalStore(tmp_path / "reg", create=True)
    reg.publish(NAME, multilabel_bundle)
    return reg


@pytest.fixture
def new_data(tmp_path: Path):
    path = write_multilabel_jsonl(tmp_path / "new.jsonl", make_multilabel_examples(120, 7))
    return read_text_dataset(path, separator="|")


def test_warm_started_candidate_is_multi_label_and_gated_on_micro_f1(
    registry: ModelStore, new_data
) -> None:
    result = retrain(registry, NAME, new_data, from_version="v1", overrides={"epochs": 3})
    assert result.multi_label and result.warm_start == "v1"
    assert set(result.candidate_metrics) == {
        "micro_f1", "macro_f1", "samples_f1", "subset_accuracy"
    }  # fmt: skip
    promoted = result.candidate_metrics["micro_f1"] >= result.current_metrics["micro_f1"]
    assert result.promoted == promoted and result.reason.startswith("micro_f1 ")
    assert "micro_f1" in result.table()
    candidate = registry.load_bundle(NAME, result.candidate)
    assert candidate.multi_label and len(candidate.thresholds) == 3
    assert candidate.metrics["gate_micro_f1"] == result.candidate_metrics["micro_f1"]


def test_a_worse_candidate_is_refused_by_micro_f1(registry: ModelStore, new_data) -> None:
    result = retrain(registry, NAME, new_data, overrides={"epochs": 1, "lr": 1e-5})
    assert not result.promoted and registry.current(NAME) == "v1"
    assert result.candidate_metrics["micro_f1"] < result.current_metrics["micro_f1"]


def test_single_label_data_is_refused(registry: ModelStore, kw_files) -> None:
    with pytest.raises(DataError, match="needs label sets"):
        retrain(registry, NAME, read_text_dataset(kw_files["train"]))


def test_warm_start_needs_the_same_kind_of_model(multilabel_bundle: Bundle, new_data) -> None:
    single = new_data.subset(list(range(len(new_data))))
    single.label_sets = None
    single.labels = [s[0] if s else "question" for s in new_data.label_sets]
    with pytest.raises(TextCNNError, match="multi_label True -> False"):
        train_text(single, multilabel_options(multi_label=False), warm_start=multilabel_bundle)

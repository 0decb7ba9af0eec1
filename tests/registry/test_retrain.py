"""The retrain workflow: stored options, the gate, labels, failures, concurrent promotion."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from tests.registry.conftest import NAME, snapshot
from textcnn.errors import DataError
from textcnn.modalities import get_modality
from textcnn.retrain import retrain, stored_options
from textcnn.store import ModelStore, StoreError
from textcnn.text.data import TextDataset, read_text_dataset


def relabel(data: TextDataset, old: str, new: str | None) -> TextDataset:
    """``data`` with label ``old`` renamed to ``new``, or its examples dropped (None)."""
    keep = [i for i, label in enumerate(data.labels) if new is not None or label != old]
    subset = data.subset(keep)
    subset.labels = [new if label == old else label for label in subset.labels]
    return subset


def test_candidate_uses_the_stored_options_with_overrides(registry: ModelStore, kw_bundle) -> None:
    opts = stored_options(kw_bundle, {"epochs": 3, "lr": 0.02})
    assert (opts.dim, opts.feature_maps, opts.filter_widths) == (16, 8, (3, 4, 5))
    assert (opts.train.epochs, opts.train.lr, opts.train.optimizer) == (3, 0.02, "adam")


def test_a_better_candidate_is_promoted(registry: ModelStore, kw_files) -> None:
    result = retrain(registry, NAME, read_text_dataset(kw_files["new"]), from_version="v1")
    assert result.promoted and result.candidate == "v2"
    assert registry.current(NAME) == "v2"
    assert result.candidate_metrics["accuracy"] >= result.current_metrics["accuracy"]
    assert result.gate["examples"] == 18  # 20% of 90, held out of the data
    manifest = registry.info(NAME, "v2").manifest
    assert manifest["parent"] == "v1"
    assert manifest["metrics"]["gate_accuracy"] == result.candidate_metrics["accuracy"]
    assert "current v1" in result.table() and "candidate v2" in result.table()


def test_the_gate_refuses_a_worse_candidate(registry: ModelStore, kw_files) -> None:
    new = read_text_dataset(kw_files["new"])
    dev = read_text_dataset(kw_files["test"])
    result = retrain(registry, NAME, new, dev=dev, overrides={"epochs": 1, "lr": 1e-5})
    assert not result.promoted
    assert result.candidate_metrics["accuracy"] < result.current_metrics["accuracy"]
    assert result.gate["examples"] == len(dev)
    assert registry.current(NAME) == "v1"
    assert registry.version_ids(NAME) == ["v1", "v2"]  # kept, for a later promote
    assert "models promote" in result.reason and "--version v2" in result.reason
    assert result.delta()["accuracy"] < 0


def test_force_promotes_a_worse_candidate(registry: ModelStore, kw_files) -> None:
    new = read_text_dataset(kw_files["new"])
    result = retrain(registry, NAME, new, overrides={"epochs": 1, "lr": 1e-5}, force=True)
    assert result.promoted and result.reason == "--force"
    assert registry.current(NAME) == "v2"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("question", "greeting", "not in the model: greeting; missing from the data: question"),
        ("question", None, "missing from the data: question"),
    ],
)
def test_labels_that_differ_are_refused(registry: ModelStore, kw_files, old, new, message) -> None:
    data = relabel(read_text_dataset(kw_files["new"]), old, new)
    before = snapshot(registry.root)
    with pytest.raises(DataError, match=f"{message}.*`force` trains a fresh model"):
        retrain(registry, NAME, data, from_version="v1")
    assert snapshot(registry.root) == before


def test_force_trains_a_fresh_model_on_new_labels(registry: ModelStore, kw_files) -> None:
    data = relabel(read_text_dataset(kw_files["new"]), "question", "greeting")
    result = retrain(registry, NAME, data, from_version="v1", force=True)
    assert result.promoted and result.warm_start is None
    assert result.current_metrics is None and "n/a" in result.table()
    assert registry.load(NAME)[1].labels == ["greeting", "negative", "positive"]


def test_a_candidate_that_fails_to_train_leaves_the_registry_alone(
    registry: ModelStore, kw_files, monkeypatch
) -> None:
    data = read_text_dataset(kw_files["new"])
    before = snapshot(registry.root)

    def explode(*args, **kwargs):
        raise RuntimeError("out of memory")

    text = get_modality("text")
    monkeypatch.setattr(text, "train", explode)
    with pytest.raises(StoreError, match="failed to train \\(out of memory\\)"):
        retrain(registry, NAME, data)
    nan_bundle = dataclasses.replace(registry.load_bundle(NAME))
    with torch.no_grad():
        nan_bundle.model.head.linear.weight.fill_(math.nan)
    monkeypatch.setattr(text, "train", lambda *a, **k: nan_bundle)
    with pytest.raises(StoreError, match="weights are not finite"):
        retrain(registry, NAME, data)
    assert snapshot(registry.root) == before


def test_no_promotion_when_the_current_version_changed_meanwhile(
    registry: ModelStore, kw_bundle, kw_files
) -> None:
    registry.publish(NAME, kw_bundle)  # v2 current, v1 previous

    def promote_v1(record: dict) -> None:
        if record["epoch"] == 1:
            registry.promote(NAME, "v1")

    data = read_text_dataset(kw_files["new"])
    result = retrain(registry, NAME, data, force=True, on_epoch=promote_v1)
    assert not result.promoted  # not even --force overrides another user's promotion
    assert "changed from v2 to v1" in result.reason
    assert registry.current(NAME) == "v1"
    assert result.candidate == "v3"


def test_old_versions_are_pruned_after_publishing(
    registry: ModelStore, kw_bundle, kw_files
) -> None:
    for _ in range(3):
        registry.publish(NAME, kw_bundle)
    result = retrain(registry, NAME, read_text_dataset(kw_files["new"]), keep=2, force=True)
    assert result.pruned == ["v1", "v2", "v3"]
    assert registry.version_ids(NAME) == ["v4", "v5"]

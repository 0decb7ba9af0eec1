"""A multi-label model served: label sets, unnormalised scores, explanations, /models."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings
from textcnn.engine.bundle import Bundle
from textcnn.engine.predictor import Predictor
from textcnn.store import LocalStore

TEXTS = ["why was it so awful", "the film", "loved it , how wonderful"]


@pytest.fixture
def tags(
    registry_root: Path, multilabel_bundle: Bundle, make_settings: Callable[..., Settings]
) -> Iterator[TestClient]:
    """The service over a registry holding the multi-label keyword model as ``tags``."""
    LocalStore(registry_root).publish("tags", multilabel_bundle)
    with TestClient(create_app(make_settings(text_model="tags"))) as client:
        yield client


def test_labels_over_their_thresholds_and_every_score(
    tags: TestClient, multilabel_bundle: Bundle
) -> None:
    r = tags.post("/classify", json={"texts": TEXTS})
    assert r.status_code == 200
    results = r.json()["results"]
    expected = Predictor(multilabel_bundle).predict(TEXTS)
    assert [x["labels"] for x in results] == [p.labels for p in expected]
    assert results[1]["labels"] == []  # no cue word: no label
    for result in results:
        assert {s["label"] for s in result["scores"]} == set(multilabel_bundle.labels)
        assert result["scores"][0] == {"label": result["label"], "score": result["score"]}
    assert sum(s["score"] for s in results[0]["scores"]) > 1.2  # not normalised


def test_threshold_per_request(tags: TestClient) -> None:
    r = tags.post("/classify", json={"texts": TEXTS, "threshold": 0.0, "top_k": 1})
    assert r.status_code == 200
    for result in r.json()["results"]:
        assert len(result["labels"]) == 3 and len(result["scores"]) == 1
    r = tags.post("/classify", json={"text": "why", "threshold": 1.5})
    assert r.status_code == 422 and "body.threshold" in r.json()["message"]


def test_threshold_on_a_single_label_model_is_refused(client: TestClient) -> None:
    r = client.post("/classify", json={"text": "why", "threshold": 0.5})
    assert r.status_code == 422 and "not multi-label" in r.json()["message"]
    assert "labels" not in client.post("/classify", json={"text": "why"}).json()["results"][0]


def test_explain_covers_each_predicted_label(tags: TestClient) -> None:
    r = tags.post("/classify", json={"text": TEXTS[0], "explain": True})
    assert r.status_code == 200
    (result,) = r.json()["results"]
    each = result["explanation"]["labels"]
    assert [e["label"] for e in each] == result["labels"] and len(each) == 2
    assert all(e["ngrams"] for e in each)
    r = tags.post("/classify", json={"text": TEXTS[1], "explain": True, "threshold": 0.0})
    assert len(r.json()["results"][0]["explanation"]["labels"]) == 3


def test_models_shows_multi_label_and_thresholds(
    tags: TestClient, multilabel_bundle: Bundle
) -> None:
    models = {m["name"]: m for m in tags.get("/models").json()["models"]}
    assert models["tags"]["multi_label"] is True
    assert models["tags"]["thresholds"] == multilabel_bundle.thresholds
    assert models["text"]["multi_label"] is False

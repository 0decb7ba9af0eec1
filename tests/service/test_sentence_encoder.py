"""A text model with a sentence encoder's term (``--sentence-encoder minilm``) in the service:
its batches carry the texts beside the ids, and it answers as the Predictor does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings
from textcnn.engine.bundle import Bundle
from textcnn.engine.predictor import Predictor
from textcnn.store import LocalStore
from textcnn.text import sentence_scores
from textcnn.text.embedding_cache import EmbeddingCache

TEXTS = ["the food was superb", "a dreadful film", "where is the store", "!!!"]


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_the_service_answers_as_the_predictor(
    sentence_bundle: Bundle, tmp_path: Path, runtime: str
) -> None:
    """Batched requests carry their texts beside the ids; the network runs in either runtime."""
    root = tmp_path / "registry"
    LocalStore(root, create=True).publish("text", sentence_bundle)
    expected = Predictor(sentence_bundle).predict_proba(TEXTS)
    settings = Settings(registry=root, reload_interval=0, runtime=runtime)
    with TestClient(create_app(settings)) as client:
        (info,) = client.get("/models").json()["models"]
        assert info["runtime"] == ("onnxruntime" if runtime == "onnx" else "torch")
        assert info["sentence_encoder"] == "minilm" and not info["explainable"]
        r = client.post("/classify", json={"texts": TEXTS})
        assert r.status_code == 200, r.text
        for row, result in zip(expected.tolist(), r.json()["results"], strict=True):
            scores = {s["label"]: s["score"] for s in result["scores"]}
            got = [scores[label] for label in sentence_bundle.labels]
            np.testing.assert_allclose(got, row, atol=1e-5)
        r = client.post("/classify", json={"texts": TEXTS[:1], "explain": True})
        assert r.status_code == 422 and "has no explanations" in r.text


def test_a_repeated_text_is_a_cache_hit_in_metrics(
    sentence_bundle: Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service sizes the embedding cache and counts its lookups in /metrics."""
    monkeypatch.setattr(sentence_scores, "SERVED", EmbeddingCache())
    root = tmp_path / "registry"
    LocalStore(root, create=True).publish("text", sentence_bundle)
    settings = Settings(registry=root, reload_interval=0, sentence_cache_mib=1)
    with TestClient(create_app(settings)) as client:
        assert sentence_scores.SERVED.max_bytes == 2**20
        before = lookups(client.get("/metrics").text)
        for _ in range(2):
            r = client.post("/classify", json={"texts": ["a text sent twice"]})
            assert r.status_code == 200, r.text
        after = lookups(client.get("/metrics").text)
    routed = after["miss"] - before["miss"]  # the gate routes the crippled CNN's every text
    assert routed == 1 and after["hit"] - before["hit"] == 1


def lookups(metrics: str) -> dict[str, float]:
    found = dict.fromkeys(("hit", "miss"), 0.0)
    for line in metrics.splitlines():
        if line.startswith("textcnn_sentence_cache_lookups_total{"):
            result = line.split('result="')[1].split('"')[0]
            found[result] = float(line.rsplit(" ", 1)[1])
    return found

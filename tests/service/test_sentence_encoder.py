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
from textcnn.store import ModelStore

TEXTS = ["the food was superb", "a dreadful film", "where is the store", "!!!"]


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_the_service_answers_as_the_predictor(
    sentence_bundle: Bundle, tmp_path: Path, runtime: str
) -> None:
    """Batched requests carry their texts beside the ids; the network runs in either runtime."""
    root = tmp_path / "registry"
    ModelStore(root, create=True).publish("text", sentence_bundle)
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


def test_a_model_with_a_sentence_term_never_runs_on_the_event_loop(
    sentence_bundle: Bundle, text_bundle: Bundle, tmp_path: Path
) -> None:
    """Whatever its recent batches cost, a gated encoder's next batch may route every text to
    the encoder: it runs in an inference thread, while a plain model's small batches run
    inline under the same settings."""
    root = tmp_path / "registry"
    store = ModelStore(root, create=True)
    store.publish("text", sentence_bundle)
    store.publish("plain", text_bundle)
    settings = Settings(registry=root, reload_interval=0, inline_batch_ms=60_000)
    with TestClient(create_app(settings)) as client:
        for model in ("text", "plain"):
            for _ in range(3):
                r = client.post("/classify", json={"texts": TEXTS, "model": model})
                assert r.status_code == 200, r.text
        states = client.app.state.manager.states
        assert not states["text"].loaded.batcher._runs_inline(1)
        assert states["plain"].loaded.batcher._runs_inline(1)


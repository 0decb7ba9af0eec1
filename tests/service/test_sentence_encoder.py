"""A text model with a sentence encoder's term (``--sentence-encoder minilm``) in the service:
its batches carry the texts beside the ids, and it answers as the Predictor does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings
from textcnn.engine.bundle import Bundle
from textcnn.engine.predictor import Predictor
from textcnn.store import LocalStore
from textcnn.text import sentence_term
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


def test_a_model_with_a_sentence_term_never_runs_on_the_event_loop(
    sentence_bundle: Bundle, text_bundle: Bundle, tmp_path: Path
) -> None:
    """Whatever its recent batches cost, a gated encoder's next batch may route every text to
    the encoder: it runs in an inference thread, while a plain model's small batches run
    inline under the same settings."""
    root = tmp_path / "registry"
    store = LocalStore(root, create=True)
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


def test_a_term_on_another_device_than_its_embeddings_fails_the_load_check(
    sentence_bundle: Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GPU's stand-in: the term's buffers on the ``meta`` device, the encoder's embeddings on
    the CPU. The version is refused at load, with the reason, instead of serving 500s."""
    root = tmp_path / "registry"
    LocalStore(root, create=True).publish("text", sentence_bundle)
    real = LocalStore.load_bundle

    def on_another_device(self: LocalStore, *args: object, **kwargs: object) -> Bundle:
        bundle = real(self, *args, **kwargs)
        bundle.model.input_term.to("meta")
        return bundle

    monkeypatch.setattr(LocalStore, "load_bundle", on_another_device)
    settings = Settings(registry=root, reload_interval=0, runtime="torch")
    with TestClient(create_app(settings)) as client:
        (info,) = client.get("/models").json()["models"]
        assert info["state"] == "unavailable" and info["refused"][0]["version"] == "v1"
        assert "meta" in info["refused"][0]["error"]
        assert client.post("/classify", json={"texts": TEXTS}).status_code == 503
        assert client.get("/ready").status_code == 503


def test_the_load_check_warms_the_encoder(
    sentence_bundle: Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The encoder runs once when a version loads, on the example, and no text of a request
    waits for its first load: the check routes the example whatever the gate."""
    encoded: list[list[str]] = []
    real = sentence_term.embed_sentences

    def counted(name: str, texts: list[str], *args: object, **kwargs: object) -> torch.Tensor:
        encoded.append(list(texts))
        return real(name, texts, *args, **kwargs)

    monkeypatch.setattr(sentence_term, "embed_sentences", counted)
    root = tmp_path / "registry"
    LocalStore(root, create=True).publish("text", sentence_bundle)
    with TestClient(create_app(Settings(registry=root, reload_interval=0))) as client:
        assert encoded == [["warm up"]]  # the text modality's example
        assert client.post("/classify", json={"text": TEXTS[0]}).status_code == 200


@pytest.mark.cuda
def test_a_sentence_encoder_model_serves_on_the_gpu(
    sentence_bundle: Bundle, tmp_path: Path
) -> None:
    """The term's buffers on CUDA, the encoder's embeddings from the CPU: the same answers as
    on the CPU (the stand-in above shows the check; this, the fix)."""
    root = tmp_path / "registry"
    LocalStore(root, create=True).publish("text", sentence_bundle)
    expected = Predictor(sentence_bundle).predict_proba(TEXTS)
    settings = Settings(registry=root, reload_interval=0, device="cuda")
    with TestClient(create_app(settings)) as client:
        (info,) = client.get("/models").json()["models"]
        assert info["state"] == "serving", info
        r = client.post("/classify", json={"texts": TEXTS})
        assert r.status_code == 200, r.text
        for row, result in zip(expected.tolist(), r.json()["results"], strict=True):
            scores = {s["label"]: s["score"] for s in result["scores"]}
            got = [scores[label] for label in sentence_bundle.labels]
            np.testing.assert_allclose(got, row, atol=1e-4)


def test_a_repeated_text_is_a_cache_hit_in_metrics(
    sentence_bundle: Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service sizes the embedding cache and counts its lookups in /metrics."""
    monkeypatch.setattr(sentence_term, "SERVED", EmbeddingCache())
    root = tmp_path / "registry"
    LocalStore(root, create=True).publish("text", sentence_bundle)
    settings = Settings(registry=root, reload_interval=0, sentence_cache_mib=1)
    with TestClient(create_app(settings)) as client:
        assert sentence_term.SERVED.max_bytes == 2**20
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

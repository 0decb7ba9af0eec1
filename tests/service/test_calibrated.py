"""A calibrated model served: the scores are the softmax of its logits over its temperature."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings
from textcnn.engine.bundle import Bundle, load_bundle
from textcnn.engine.predictor import Predictor
from textcnn.store import LocalStore

TEXTS = ["why was it so awful", "the film", "loved it , how wonderful"]


def test_the_service_applies_the_bundles_temperature(
    registry_root: Path,
    text_bundle: Bundle,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    bundle = load_bundle(text_bundle.save(tmp_path / "copy"))
    bundle.set_temperature(3.0)
    LocalStore(registry_root).publish("calibrated", bundle)
    predictor = Predictor(bundle)
    logits = predictor.predict_logits(TEXTS)
    expected = (logits / 3.0).softmax(dim=1)
    assert not expected.allclose(logits.softmax(dim=1), atol=0.01)  # the temperature matters
    with TestClient(create_app(make_settings(text_model="calibrated"))) as client:
        results = client.post("/classify", json={"texts": TEXTS}).json()["results"]
        models = {m["name"]: m for m in client.get("/models").json()["models"]}
    for result, row in zip(results, expected.tolist(), strict=True):
        served = {s["label"]: s["score"] for s in result["scores"]}
        assert [served[label] for label in bundle.labels] == pytest.approx(row, abs=1e-4)
        assert result["label"] == bundle.labels[max(range(len(row)), key=row.__getitem__)]
    assert models["calibrated"]["temperature"] == 3.0

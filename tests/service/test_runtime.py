"""TEXTCNN_RUNTIME: ONNX Runtime runs the CPU forward passes by default and answers as
PyTorch does; PyTorch serves what it cannot (a failed export, bf16), and /models says which."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import service.loader
from service.main import create_app
from service.settings import Settings
from textcnn.engine.bundle import Bundle
from textcnn.errors import ExportError
from textcnn.export.runtime import OnnxForward
from textcnn.store import LocalStore

pytest.importorskip("onnxruntime")

TEXTS = ["please refund my card", "the app crashes", "where is my parcel", "!!!", "zzz qqq"]


def served_info(settings: Settings, texts: list[str], **body: object) -> tuple[dict, list[dict]]:
    """(the text model's entry in /models, /classify's results for ``texts``)."""
    with TestClient(create_app(settings)) as client:
        (info,) = [m for m in client.get("/models").json()["models"] if m["name"] == "text"]
        r = client.post("/classify", json={"texts": texts, **body})
        assert r.status_code == 200, r.text
        return info, r.json()["results"]


def served(settings: Settings, texts: list[str], **body: object) -> tuple[str, list[dict]]:
    """(the text model's runtime in /models, /classify's results for ``texts``)."""
    info, results = served_info(settings, texts, **body)
    return info["runtime"], results


def test_onnx_runtime_is_the_default_and_answers_as_pytorch(
    make_settings: Callable[..., Settings],
) -> None:
    assert Settings.model_fields["runtime"].default == "onnx"
    runtime, onnx = served(make_settings(), TEXTS)
    assert runtime == "onnxruntime"
    runtime, reference = served(make_settings(runtime="torch"), TEXTS)
    assert runtime == "torch"
    for got, expected in zip(onnx, reference, strict=True):
        assert got["label"] == expected["label"]
        for a, b in zip(got["scores"], expected["scores"], strict=True):
            assert a["label"] == b["label"] and a["score"] == pytest.approx(b["score"], abs=1e-5)


def test_text_models_run_as_token_tables_within_their_memory_budget(
    make_settings: Callable[..., Settings],
) -> None:
    info, tables = served_info(make_settings(), TEXTS)
    assert info["token_table"] and info["runtime"] == "onnxruntime"
    assert info["sentence_encoder"] is None and info["explainable"]
    for budget in (0, 1e-3):  # never; a budget below the table's size
        info, convolutions = served_info(make_settings(token_table_mb=budget), TEXTS)
        assert not info["token_table"] and info["runtime"] == "onnxruntime"
        assert [r["label"] for r in convolutions] == [r["label"] for r in tables]
        for got, expected in zip(tables, convolutions, strict=True):
            for a, b in zip(got["scores"], expected["scores"], strict=True):
                assert a["score"] == pytest.approx(b["score"], abs=1e-5)
    info, _ = served_info(make_settings(precision="int8"), TEXTS[:1])
    assert not info["token_table"] and info["precision"] == "int8"


def test_a_refused_token_table_leaves_the_convolutions_in_onnx_runtime(
    make_settings: Callable[..., Settings], monkeypatch, caplog
) -> None:
    export = service.loader.onnx_forward

    def no_table(bundle: Bundle, threads: int, **form: bool) -> OnnxForward:
        if form.get("token_table"):
            raise ExportError("the table does not fit (test)")
        return export(bundle, threads, **form)

    monkeypatch.setattr(service.loader, "onnx_forward", no_table)
    with caplog.at_level(logging.WARNING, logger="service.loader"):
        info, results = served_info(make_settings(), TEXTS[:2])
    assert info["runtime"] == "onnxruntime" and not info["token_table"] and len(results) == 2
    assert "served without a token table: the table does not fit (test)" in caplog.text


def test_explanations_keep_the_label_and_scores_of_the_prediction(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    _, plain = served(settings, TEXTS)
    _, explained = served(settings, TEXTS, explain=True)
    for p, e in zip(plain, explained, strict=True):
        assert e["label"] == p["label"] and e["scores"] == p["scores"]
        assert "ngrams" in e["explanation"]


def test_pytorch_serves_bf16_and_models_that_cannot_be_exported(
    make_settings: Callable[..., Settings], monkeypatch, caplog
) -> None:
    runtime, _ = served(make_settings(precision="bf16"), TEXTS[:1])
    assert runtime == "torch"

    def refuse(bundle: Bundle, threads: int, **form: bool) -> None:
        raise ExportError("the 'textcnn' architecture cannot be exported to ONNX (test)")

    monkeypatch.setattr(service.loader, "onnx_forward", refuse)
    with caplog.at_level(logging.WARNING, logger="service.loader"):
        runtime, results = served(make_settings(), TEXTS[:2])
    assert runtime == "torch" and len(results) == 2
    assert "served by PyTorch, not ONNX Runtime" in caplog.text


def test_image_models_run_in_onnx_runtime_too(
    registry_root: Path, image_bundle: Bundle, make_settings: Callable[..., Settings]
) -> None:
    LocalStore(registry_root).publish("image", image_bundle)
    with TestClient(create_app(make_settings())) as client:
        runtimes = {m["name"]: m["runtime"] for m in client.get("/models").json()["models"]}
    assert runtimes == {"text": "onnxruntime", "image": "onnxruntime"}


def test_int8_serves_in_onnx_runtime_near_float32_and_explains_its_own_label(
    make_settings: Callable[..., Settings],
) -> None:
    info, reference = served_info(make_settings(), TEXTS)
    assert (info["runtime"], info["precision"]) == ("onnxruntime", "fp32")
    settings = make_settings(precision="int8")
    info, int8 = served_info(settings, TEXTS)
    assert (info["runtime"], info["precision"]) == ("onnxruntime", "int8")
    for got, expected in zip(int8, reference, strict=True):
        want = {s["label"]: s["score"] for s in expected["scores"]}
        for s in got["scores"]:
            assert s["score"] == pytest.approx(want[s["label"]], abs=0.05)
    _, explained = served_info(settings, TEXTS, explain=True)
    for p, e in zip(int8, explained, strict=True):
        assert e["label"] == p["label"] and e["scores"] == p["scores"]


@pytest.mark.parametrize("other", [{"runtime": "torch"}, {"device": "cuda"}])
def test_int8_outside_onnx_runtime_on_the_cpu_is_a_settings_error(
    make_settings: Callable[..., Settings], other: dict
) -> None:
    with pytest.raises(ValueError, match="int8 runs in ONNX Runtime on the CPU"):
        make_settings(precision="int8", **other)

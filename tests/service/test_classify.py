"""``POST /classify``: predictions, explanations, model choice and every bad input."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings
from textcnn.engine.bundle import Bundle
from textcnn.engine.predictor import Predictor
from textcnn.store import LocalStore


def test_one_text(client: TestClient, text_bundle: Bundle) -> None:
    r = client.post("/classify", json={"text": "the movie was wonderful"})
    assert r.status_code == 200
    body = r.json()
    assert (body["model"], body["version"]) == ("text", "v1")
    (result,) = body["results"]
    assert result["label"] == "positive"
    scores = [s["score"] for s in result["scores"]]
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) == pytest.approx(1.0, abs=1e-5)
    assert result["scores"][0] == {"label": result["label"], "score": result["score"]}
    assert {s["label"] for s in result["scores"]} == set(text_bundle.labels)
    assert "explanation" not in result


def test_batch_matches_the_engine(client: TestClient, text_bundle: Bundle) -> None:
    texts = ["why is the store so quiet", "it was awful really", "some excellent food", "the"]
    r = client.post("/classify", json={"texts": texts, "top_k": 2})
    assert r.status_code == 200
    results = r.json()["results"]
    expected = Predictor(text_bundle).predict(texts)
    assert [x["label"] for x in results] == [p.label for p in expected]
    for result, prediction in zip(results, expected, strict=True):
        assert len(result["scores"]) == 2
        assert result["score"] == pytest.approx(prediction.score, abs=1e-6)


def test_bf16_precision_agrees_with_float32(
    make_settings: Callable[..., Settings], text_bundle: Bundle
) -> None:
    texts = ["why is the store so quiet", "it was awful really", "some excellent food", "the"]
    expected = Predictor(text_bundle).predict(texts)
    with TestClient(create_app(make_settings(precision="bf16"))) as client:
        r = client.post("/classify", json={"texts": texts})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["label"] for x in results] == [p.label for p in expected]
    for result, prediction in zip(results, expected, strict=True):
        assert result["score"] == pytest.approx(prediction.score, abs=0.02)
        assert result["score"] != prediction.score  # it did run in bfloat16


def test_explanations_point_at_the_cue_word(client: TestClient) -> None:
    texts = ["the film was so very dreadful this day", "how was the story", "quite superb food"]
    r = client.post("/classify", json={"texts": texts, "explain": True})
    assert r.status_code == 200
    for text, cue, result in zip(
        texts, ["dreadful", "how", "superb"], r.json()["results"], strict=True
    ):
        explanation = result["explanation"]
        assert explanation["tokens"] == text.split()
        top = explanation["ngrams"][0]
        assert cue in explanation["tokens"][top["start"] : top["end"]]
        assert cue in top["ngram"].split()
        assert top["contribution"] > 0
        contributions = [n["contribution"] for n in explanation["ngrams"]]
        assert contributions == sorted(contributions, reverse=True)
        assert len(contributions) <= 5


def test_another_model_by_name(
    registry_root: Path, text_bundle: Bundle, make_settings: Callable[..., Settings]
) -> None:
    LocalStore(registry_root).publish("keywords", text_bundle)
    with TestClient(create_app(make_settings())) as client:
        r = client.post("/classify", json={"text": "why", "model": "keywords"})
        assert r.status_code == 200
        assert (r.json()["model"], r.json()["version"]) == ("keywords", "v1")
        assert client.post("/classify", json={"text": "why", "model": "nope"}).status_code == 404


def test_the_default_model_is_configurable(
    registry_root: Path, text_bundle: Bundle, make_settings: Callable[..., Settings]
) -> None:
    LocalStore(registry_root).publish("keywords", text_bundle)
    settings = make_settings(text_model="keywords", models=["keywords"])
    with TestClient(create_app(settings)) as client:
        assert client.post("/classify", json={"text": "why"}).json()["model"] == "keywords"
        assert client.get("/ready").json()["models"] == {"keywords": "v1"}


BAD_BODIES = [
    ("malformed JSON", b'{"text": "a"', "body"),
    ("empty body", b"", "body"),
    ("invalid UTF-8", b'{"text": "\xff\xfe"}', "body"),
    ("absurd nesting", b'{"text": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "body"),
    ("huge number", b'{"text": ' + b"9" * 5000 + b"}", "body"),
    ("number as text", b'{"text": ' + b"9" * 50 + b"}", "body.text"),
    ("not an object", b'["a"]', "body"),
    ("text not a string", b'{"text": 5}', "body.text"),
    ("texts not a list", b'{"texts": "a"}', "body.texts"),
    ("text in texts not a string", b'{"texts": ["a", 3]}', "body.texts.1"),
    ("empty text", b'{"text": ""}', "body.text"),
    ("whitespace text", b'{"text": " \\n\\t "}', "body.text"),
    ("empty text in batch", b'{"texts": ["a", "  "]}', "body.texts.1"),
    ("empty batch", b'{"texts": []}', "body.texts"),
    ("neither text nor texts", b'{"top_k": 1}', "`text`"),
    ("both text and texts", b'{"text": "a", "texts": ["b"]}', "`texts`"),
    ("unknown field", b'{"text": "a", "txt": "b"}', "body.txt"),
    ("top_k zero", b'{"text": "a", "top_k": 0}', "body.top_k"),
    ("top_k not a number", b'{"text": "a", "top_k": "many"}', "body.top_k"),
    ("explain not a bool", b'{"text": "a", "explain": "perhaps"}', "body.explain"),
    ("model empty", b'{"text": "a", "model": ""}', "body.model"),
    ("text too long", b'{"text": "' + b"a" * 101 + b'"}', "body.text"),
    ("text in batch too long", b'{"texts": ["a", "' + b"a" * 101 + b'"]}', "body.texts.1"),
    ("too many texts", b'{"texts": [' + b",".join([b'"a"'] * 9) + b"]}", "body.texts"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_input_is_a_422_naming_the_field(
    make_settings: Callable[..., Settings], case: str, body: bytes, field: str
) -> None:
    settings = make_settings(max_text_chars=100, max_batch_texts=8)
    with TestClient(create_app(settings)) as client:
        r = client.post("/classify", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, case
    assert field in r.json()["message"], r.json()


def test_a_body_that_is_not_json_is_a_415(client: TestClient) -> None:
    r = client.post("/classify", content=b"hello", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    assert "application/json" in r.json()["detail"]


def test_body_over_the_limit_is_a_413(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(max_body_bytes=2048)
    body = b'{"text": "' + b"a" * 4096 + b'"}'
    with TestClient(create_app(settings)) as client:
        declared = client.post(
            "/classify", content=body, headers={"content-type": "application/json"}
        )
        assert declared.status_code == 413

        def chunks():  # no Content-Length: caught while streaming
            for i in range(0, len(body), 512):
                yield body[i : i + 512]

        streamed = client.post(
            "/classify", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        ok = client.post("/classify", json={"text": "fine"})
        assert ok.status_code == 200


def test_many_bad_items_get_a_short_422(client: TestClient) -> None:
    r = client.post("/classify", json={"texts": [1] * 5000})
    assert r.status_code == 422
    body = r.json()
    assert len(body["detail"]) == 20
    assert body["message"].endswith("; and 4980 more errors")
    assert len(r.content) < 10_000
    huge = client.post("/classify", json={"texts": ["a"] * 10_001})
    assert huge.status_code == 422
    assert huge.json()["detail"][0]["loc"] == ["body", "texts"]


def test_a_text_with_no_tokens_still_classifies(client: TestClient) -> None:
    r = client.post("/classify", json={"text": "$$$ ###", "explain": True})
    assert r.status_code == 200
    explanation = r.json()["results"][0]["explanation"]
    assert explanation["tokens"] == []
    assert all((n["start"], n["end"], n["ngram"]) == (0, 0, "") for n in explanation["ngrams"])


def test_a_client_that_hangs_up_mid_body_is_no_server_error(app: FastAPI) -> None:
    messages = [
        {"type": "http.request", "body": b'{"text": ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/classify", "raw_path": b"/classify", "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
    }  # fmt: skip

    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)

    asyncio.run(scenario())
    assert sent[0]["status"] == 499
    metrics = app.state.metrics.render().decode()
    assert 'status="499"' in metrics and 'status="500"' not in metrics


def test_unknown_model_is_a_404_and_wrong_modality_too(
    registry_root: Path, image_bundle: Bundle, make_settings: Callable[..., Settings]
) -> None:
    LocalStore(registry_root).publish("image", image_bundle)
    with TestClient(create_app(make_settings())) as client:
        r = client.post("/classify", json={"text": "a", "model": "missing"})
        assert r.status_code == 404
        assert "missing" in r.json()["detail"]
        r = client.post("/classify", json={"text": "a", "model": "image"})
        assert r.status_code == 404
        assert "image model" in r.json()["detail"]


def test_no_model_loaded_is_a_503(tmp_path: Path) -> None:
    settings = Settings(
        registry=LocalStore(tmp_path / "empty", create=True).root, reload_interval=0
    )
    with TestClient(create_app(settings)) as client:
        r = client.post("/classify", json={"text": "hello"})
        assert r.status_code == 503
        assert "text" in r.json()["detail"]
        assert client.get("/ready").status_code == 503

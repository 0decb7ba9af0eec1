"""Health, readiness, /models, /metrics and the OpenAPI documentation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings
from textcnn.engine.bundle import Bundle
from textcnn.store import LocalStore


def test_health(client: TestClient) -> None:
    r = client.get("/health")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    assert client.head("/health").status_code == 200
    assert client.head("/ready").status_code == 200


def test_ready_when_every_configured_model_is_loaded(
    client: TestClient, make_settings: Callable[..., Settings]
) -> None:
    r = client.get("/ready")
    ready = {"ready": True, "models": {"text": "v1"}, "errors": {}, "error": None}
    assert (r.status_code, r.json()) == (200, ready)
    with TestClient(create_app(make_settings(models=["text", "image"]))) as partial:
        r = partial.get("/ready")
        assert r.status_code == 503
        assert r.json() == {
            "ready": False,
            "models": {"image": None, "text": "v1"},
            "errors": {"image": "the registry has no current version of it"},
            "error": None,
        }


def test_ready_ignores_a_model_with_no_current_version_yet(
    registry_root: Path, make_settings: Callable[..., Settings]
) -> None:
    (registry_root / "newcomer" / "versions").mkdir(parents=True)  # a first publish under way
    with TestClient(create_app(make_settings())) as client:
        r = client.get("/ready")
        assert (r.status_code, r.json()["ready"]) == (200, True)
        assert r.json()["models"] == {"newcomer": None, "text": "v1"}


def test_not_ready_when_a_discovered_model_has_only_refused_versions(
    registry_root: Path, make_settings: Callable[..., Settings], text_bundle: Bundle
) -> None:
    registry = LocalStore(registry_root)
    registry.publish("broken", text_bundle)
    weights = registry.version_dir("broken", "v1") / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])  # truncated: refused on load
    with TestClient(create_app(make_settings())) as client:
        r = client.get("/ready")
        assert (r.status_code, r.json()["models"]) == (503, {"broken": None, "text": "v1"})
        assert "model.safetensors: checksum mismatch" in r.json()["errors"]["broken"]
        metrics = client.get("/metrics").text
    assert 'textcnn_model_problem{model="broken",reason="verification"} 1.0' in metrics
    assert 'textcnn_model_problem{model="text",reason="verification"} 0.0' in metrics
    assert "textcnn_registry_up 1.0" in metrics


def test_models(client: TestClient, text_bundle: Bundle) -> None:
    body = client.get("/models").json()
    assert body["defaults"] == {"text": "text", "image": "image"}
    (info,) = body["models"]
    assert info["name"] == "text"
    assert (info["state"], info["version"], info["source"]) == ("serving", "v1", "registry")
    assert (info["modality"], info["arch"]) == ("text", "textcnn")
    assert info["labels"] == text_bundle.labels
    assert info["metrics"]["test_accuracy"] == text_bundle.metrics["test_accuracy"]
    assert info["limits"]["max_texts"] == 256
    assert info["limits"]["max_tokens"] == text_bundle.processor.max_length
    assert info["limits"]["max_queue_inputs"] == 1024
    assert info["error"] is None and info["refused"] == []


def test_models_never_shows_a_path(
    registry_root: Path, make_settings: Callable[..., Settings], text_bundle: Bundle, caplog
) -> None:
    registry = LocalStore(registry_root)
    registry.publish("broken", text_bundle)
    weights = registry.version_dir("broken", "v1") / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    settings = make_settings(bundles={"gone": registry_root / "no" / "such" / "bundle"})
    with TestClient(create_app(settings)) as client:
        text = client.get("/models").text
    assert str(registry_root) not in text and "/no/such" not in text
    assert "Traceback" not in text
    assert str(registry_root) in caplog.text  # the log keeps the whole story


def test_public_error_keeps_the_message_and_drops_directories() -> None:
    from service.errors import public_error

    assert public_error("[Errno 2] No such file: '/srv/reg/text/v3/config.json'") == (
        "[Errno 2] No such file: 'config.json'"
    )
    assert public_error("model.safetensors: checksum mismatch") == (
        "model.safetensors: checksum mismatch"
    )
    assert public_error("boom\nTraceback (most recent call last):\n  File x") == "boom"
    assert public_error("cannot reach s3://models/prod at http://s3:8333/x: refused") == (
        "cannot reach s3://models/prod at http://s3:8333/x: refused"
    )
    assert public_error(None) is None
    for path in (  # relative paths, a home, a URL, a Windows drive: each cut to its last part
        "registry/text/versions/v3/config.json",
        "v3/config.json",
        "./versions/v3/config.json",
        "~/models/config.json",
        "s3://bucket/registry/text/v3/config.json",
        "C:\\models\\v3\\config.json",
    ):
        assert public_error(f"{path}: bad") == "config.json: bad", path
        assert public_error(f"cannot open ({path})") == "cannot open (config.json)", path
    for message in (  # words with a slash that are not paths stay whole
        "expected text/plain or application/json",
        "and/or 3/4 of the rows; 1.5/2.5 at 12/07/2026",
        "sha256: needs 64 hex digits",
        "weights: shape (3, 4) != (3, 5).",
    ):
        assert public_error(message) == message


def test_a_bundle_directory_is_served_too(text_bundle_dir: Path) -> None:
    settings = Settings(bundles={"text": text_bundle_dir}, reload_interval=0)
    with TestClient(create_app(settings)) as client:
        (info,) = client.get("/models").json()["models"]
        assert info["source"] == "bundle"
        assert info["version"].startswith("bundle-")
        assert client.post("/classify", json={"text": "why"}).status_code == 200


def test_metrics(client: TestClient) -> None:
    client.post("/classify", json={"text": "great film"})
    client.post("/classify", json={"text": ""})
    client.get("/no/such/path")
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'textcnn_http_requests_total{method="POST",route="/classify",status="200"} 1.0' in text
    assert 'textcnn_http_requests_total{method="POST",route="/classify",status="422"} 1.0' in text
    assert 'route="unmatched",status="404"' in text
    assert 'textcnn_http_request_duration_seconds_bucket{le="0.1",route="/classify"}' in text
    assert 'textcnn_batch_size_count{model="text"} 1.0' in text
    assert 'textcnn_queue_depth{model="text"} 0.0' in text
    assert 'textcnn_model_loaded{modality="text",model="text",version="v1"} 1.0' in text


def test_openapi_documents_every_route_with_examples(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths) == {
        "/classify",
        "/classify-image",
        "/health",
        "/ready",
        "/models",
        "/metrics",
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/{name}",
        "/v2/models/{name}/ready",
        "/v2/models/{name}/infer",
        "/models/{name}/report",
    }
    assert paths["/classify"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    image_body = paths["/classify-image"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "image/png", "image/jpeg"} <= set(image_body)
    for path, methods in paths.items():
        for operation in methods.values():
            ok = operation["responses"]["200"]["content"]
            (media,) = ok.values()
            schema = media.get("schema", {})
            ref = schema.get("$ref", "").rsplit("/", 1)[-1]
            examples = spec["components"]["schemas"].get(ref, {}).get("examples")
            assert examples or media.get("example"), path


def test_a_missing_registry_is_reported_not_fatal(tmp_path: Path) -> None:
    settings = Settings(registry=tmp_path / "nowhere", reload_interval=0)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/ready").status_code == 503
        body = client.get("/models").json()
        assert body["models"] == [] and "nowhere" in body["error"]
        assert client.post("/classify", json={"text": "hi"}).status_code == 503


def test_each_body_schema_has_a_name_of_its_own(client: TestClient) -> None:
    """Two models of one name get module-qualified names in /docs (`service__schemas__...`)."""
    names = client.get("/openapi.json").json()["components"]["schemas"]
    assert not [name for name in names if "__" in name]
    assert {"ReadinessResponse", "ServerReadyResponse"} <= set(names)

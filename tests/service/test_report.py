"""``GET /models/{name}/report``: the served version's report, or a clear 404."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings
from tests.report.pages import assert_numbers_match, open_png, read_page
from textcnn.engine.bundle import Bundle, load_bundle
from textcnn.report import EVALUATION_KEY
from textcnn.store import LocalStore


def test_the_served_version_has_its_report(client: TestClient, text_bundle: Bundle) -> None:
    r = client.get("/models/text/report")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    images, numbers = read_page(r.text)
    assert len(images) >= 3
    for src in images:
        open_png(src)
    assert_numbers_match(numbers, text_bundle.metrics["test"])
    assert "text v1" in r.text
    assert client.get("/models/text/report").text == r.text  # drawn once, then kept
    assert "/models/{name}/report" in client.get("/openapi.json").json()["paths"]


def test_no_report_is_a_clear_404(
    client: TestClient, registry_root: Path, make_settings: Callable[..., Settings]
) -> None:
    r = client.get("/models/nope/report")
    assert r.status_code == 404 and "unknown model 'nope'" in r.json()["detail"]
    registry = LocalStore(registry_root)
    old = load_bundle(registry.version_dir("text", "v1"))
    del old.extra[EVALUATION_KEY]
    registry.publish("text", old)
    with TestClient(create_app(make_settings())) as fresh:
        r = fresh.get("/models/text/report")
        assert r.status_code == 404
        assert "no report for text v2" in r.json()["detail"]
        assert "textcnn models show --report" in r.json()["detail"]


def test_an_unreadable_stored_evaluation_is_a_404_not_a_500(
    registry_root: Path, make_settings: Callable[..., Settings]
) -> None:
    registry = LocalStore(registry_root)
    bad = load_bundle(registry.version_dir("text", "v1"))
    bad.extra[EVALUATION_KEY] = {"metrics": {"accuracy": "high"}}
    registry.publish("text", bad)
    with TestClient(create_app(make_settings())) as client:
        r = client.get("/models/text/report")
        assert r.status_code == 404 and "unreadable" in r.json()["detail"]

"""The page's routes in-process: files from the package, off with ``page=False``, no schema."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings


def test_the_page_and_its_assets_are_served_from_the_package(client: TestClient) -> None:
    index = client.get("/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    for src in ("/static/app.js", "/static/style.css"):
        assert src in index.text
        assert client.get(src).status_code == 200
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/index.html").status_code == 404  # only the named assets
    assert client.get("/static/..%2Fsettings.py").status_code == 404
    assert "/" not in client.get("/openapi.json").json()["paths"]


def test_the_page_can_be_turned_off(make_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(make_settings(page=False))) as client:
        assert client.get("/").status_code == 404
        assert client.get("/static/app.js").status_code == 404
        assert client.get("/health").status_code == 200

"""``textcnn serve`` for real: uvicorn workers on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.live_server import live_server
from textcnn.cli import build_parser
from textcnn.cli.serve import _overrides


@pytest.fixture
def server(registry_root: Path, tmp_path: Path) -> Iterator[str]:
    # TEXTCNN_MAX_BATCH_TEXTS from the environment; the flags set the rest
    with live_server(registry_root, tmp_path, {"TEXTCNN_MAX_BATCH_TEXTS": "4"}, 2) as url:
        yield url


def test_real_server(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        r = client.post("/classify", json={"texts": ["how was it", "superb day"]})
        assert r.status_code == 200
        assert [x["label"] for x in r.json()["results"]] == ["question", "positive"]
        r = client.post("/classify", json={"texts": ["a"] * 5})
        assert r.status_code == 422  # TEXTCNN_MAX_BATCH_TEXTS reached the workers
        r = client.post("/classify", content=b"{", headers={"content-type": "application/json"})
        assert r.status_code == 422
        assert client.get("/health").json() == {"status": "ok"}
        assert "textcnn_http_requests_total" in client.get("/metrics").text


def test_flags_become_settings() -> None:
    args = build_parser().parse_args(
        ["serve", "--registry", "reg", "--bundle", "a=/m/a", "--models", "a, b", "--workers", "2"]
    )
    values = _overrides(args)
    assert values["registry"] == str(Path("reg").absolute())
    assert values["bundles"] == {"a": "/m/a"}
    assert values["models"] == ["a", "b"]
    assert values["workers"] == 2
    assert "port" not in values

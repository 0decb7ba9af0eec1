"""``textcnn serve`` for real: uvicorn workers on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from textcnn.cli import build_parser
from textcnn.cli.serve import _overrides


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(registry_root: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTCNN_")}
    env["TEXTCNN_MAX_BATCH_TEXTS"] = "4"  # from the environment; the flags set the rest
    log = (tmp_path / "server.log").open("w")
    command = [sys.executable, "-m", "textcnn", "serve", "--registry", str(registry_root)]
    command += ["--port", str(port), "--workers", "2", "--log-level", "warning"]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


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

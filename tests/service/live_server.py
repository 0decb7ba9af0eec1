"""``textcnn serve`` for real in tests: uvicorn on a free loopback port, stopped afterwards."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(
    registry: Path, log_dir: Path, env: dict[str, str] | None = None, workers: int = 1
) -> Iterator[str]:
    """The server's base URL once /ready answers 200; ``env`` adds ``TEXTCNN_*`` settings."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TEXTCNN_")}
    environ.update(env or {})
    log_path = log_dir / f"server-{port}.log"
    command = [sys.executable, "-m", "textcnn", "serve", "--registry", str(registry)]
    command += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=environ, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, log_path.read_text()
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

"""The README's first command, run as written: it trains the demo models and serves them.

Against a temporary registry and a free port; stopped once /ready answers and a /classify
and a /classify-image request succeed. A second run must skip the training.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.deploy.conftest import free_port, readme_block

DEMO_LABELS = {
    json.loads(line)["label"]
    for line in (REPO / "data/demo/support_test.jsonl").read_text(encoding="utf-8").splitlines()
}
STARTUP_S = 300  # two trainings, a cold venv check and the service start on a busy machine


def request(url: str, body: bytes | None = None, headers: dict[str, str] | None = None):
    req = urllib.request.Request(url, data=body, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as response:
        return response.status, json.loads(response.read())


def start(command: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            ["bash", "-c", command],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole below
        )


def wait_ready(proc: subprocess.Popen, url: str, log: Path) -> dict:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the demo exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            return request(f"{url}/ready")[1]
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
    pytest.fail(f"/ready did not answer 200 in {STARTUP_S} s:\n{log.read_text()[-4000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.slow
@pytest.mark.timeout(2 * STARTUP_S + 120)
def test_readme_demo_command_trains_and_serves(tmp_path: Path) -> None:
    command = readme_block("demo-command")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTCNN_")}
    env |= {
        "TEXTCNN_REGISTRY": str(tmp_path / "registry"),
        "TEXTCNN_PORT": str(port),
        "DEMO_DIGITS": str(tmp_path / "digits"),
    }
    if "TEXTCNN_CACHE" in os.environ:
        env["TEXTCNN_CACHE"] = os.environ["TEXTCNN_CACHE"]
    log = tmp_path / "demo.log"

    proc = start(command, env, log)
    try:
        ready = wait_ready(proc, url, log)
        assert ready["models"] == {"text": "v1", "image": "v1"} and ready["ready"]
        status, body = request(
            f"{url}/classify",
            json.dumps({"text": "I was charged twice for my subscription this month"}).encode(),
            {"Content-Type": "application/json"},
        )
        assert status == 200 and body["model"] == "text"
        assert body["results"][0]["label"] in DEMO_LABELS
        digit = sorted((tmp_path / "digits" / "test" / "7").glob("*.png"))[0]
        status, body = request(
            f"{url}/classify-image", digit.read_bytes(), {"Content-Type": "image/png"}
        )
        assert status == 200 and body["results"][0]["label"] in {str(d) for d in range(10)}
    finally:
        stop(proc)
    first = log.read_text()
    assert "==> training the demo text model" in first
    assert "==> training the demo image model" in first
    assert f"curl {url}/classify" in first.replace(" -X POST", "")

    log.write_text("")
    proc = start(command, env, log)
    try:
        assert wait_ready(proc, url, log)["models"] == {"text": "v1", "image": "v1"}
    finally:
        stop(proc)
    second = log.read_text()
    assert "==> .venv is up to date" in second
    assert "==> training" not in second, "a second run must reuse the registry's models"

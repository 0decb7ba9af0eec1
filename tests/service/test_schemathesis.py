"""Schemathesis (every check, a bounded number of examples) against a real server serving a
text and an image model: the OpenAPI schema says exactly what the server accepts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service.servers import serve
from textcnn.engine.bundle import Bundle
from textcnn.store import LocalStore

ST = Path(sys.executable).with_name("st")
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.mark.skipif(not ST.exists() and not shutil.which("st"), reason="schemathesis missing")
def test_schemathesis_finds_nothing(
    registry_root: Path, image_bundle: Bundle, multilabel_bundle: Bundle, tmp_path: Path
) -> None:
    store = LocalStore(registry_root)
    store.publish("image", image_bundle)
    # the text model is multi-label, so every field of /classify (`threshold` too) applies
    store.publish("text", multilabel_bundle)
    env = {"TEXTCNN_LOG_LEVEL": "warning", "OMP_NUM_THREADS": "1"}
    with serve(["--registry", str(registry_root)], env, tmp_path / "server.log") as (url, _):
        st = str(ST if ST.exists() else shutil.which("st"))
        command = [st, "--config-file", str(CONFIG), "run", f"{url}/openapi.json"]
        command += ["--checks", "all", "--max-examples", "15", "--seed", "1", "--workers", "1"]
        command += ["--request-timeout", "20", "--no-color"]
        run = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]

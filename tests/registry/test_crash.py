"""Crash safety: ``kill -9`` of a retrain while training and while publishing; two at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import REPO
from tests.registry.conftest import NAME, cli_env, retrain_args, snapshot
from textcnn.cli import main
from textcnn.store import ModelStore


def start_retrain(
    registry: ModelStore, data: Path, log: Path, *extra: str, publish_delay: float = 0
):
    """A ``textcnn retrain`` subprocess with stdout and stderr written to ``log``; each
    publish pauses ``publish_delay`` seconds before its rename (``slow_publish``)."""
    cli = ["-m", "textcnn"]
    if publish_delay:
        cli = ["-m", "tests.registry.slow_publish", str(publish_delay)]
    args = [sys.executable, *cli, *map(str, retrain_args(registry, data, *extra))]
    with log.open("w") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=cli_env(), cwd=REPO)


def wait_for(condition: Callable[[], object], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def kill9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def assert_serves_v1(registry: ModelStore) -> None:
    assert registry.current(NAME) == "v1"
    assert registry.version_ids(NAME) == ["v1"]
    version, predictor = registry.load(NAME)
    assert version == "v1" and len(predictor.predict(["a great film"])) == 1


def assert_next_retrain_succeeds(registry: ModelStore, data: Path) -> None:
    assert main(map(str, retrain_args(registry, data, "--epochs", "2"))) in (0, 3)
    assert not list((registry.root / NAME).glob(".tmp-*"))
    assert registry.version_ids(NAME) == ["v1", "v2"]
    registry.verify(NAME, "v2")


def test_kill_during_training(registry: ModelStore, kw_files, tmp_path) -> None:
    before = snapshot(registry.root)
    log = tmp_path / "retrain.log"
    proc = start_retrain(registry, kw_files["new"], log, "--epochs", "100000")
    wait_for(lambda: '"epoch": 1,' in log.read_text(), "the first epoch")
    kill9(proc)
    assert snapshot(registry.root) == before
    assert_serves_v1(registry)
    assert_next_retrain_succeeds(registry, kw_files["new"])


def test_kill_during_publishing(registry: ModelStore, kw_files, tmp_path) -> None:
    log = tmp_path / "retrain.log"
    proc = start_retrain(registry, kw_files["new"], log, "--epochs", "2", publish_delay=600)
    model_dir = registry.root / NAME
    wait_for(lambda: list(model_dir.glob(".tmp-*/manifest.json")), "the publish window")
    kill9(proc)
    assert list(model_dir.glob(".tmp-*"))  # what the dead publisher left
    assert_serves_v1(registry)
    assert_next_retrain_succeeds(registry, kw_files["new"])


def test_two_retrains_at_once(registry: ModelStore, kw_files, tmp_path, capsys) -> None:
    """While one retrain publishes (a 5 s window), a second fails at once; the first succeeds."""
    log = tmp_path / "first.log"
    first = start_retrain(registry, kw_files["new"], log, "--epochs", "2", publish_delay=5)
    wait_for(lambda: list((registry.root / NAME).glob(".tmp-*/manifest.json")), "the first")
    started = time.monotonic()
    assert main(map(str, retrain_args(registry, kw_files["new"], "--epochs", "2"))) == 2
    assert time.monotonic() - started < 2
    error = capsys.readouterr().err
    assert "is being retrained by another process" in error
    assert f"held by pid {first.pid}" in error
    assert first.poll() is None
    assert first.wait(timeout=120) in (0, 3), log.read_text()
    assert registry.version_ids(NAME) == ["v1", "v2"]
    registry.verify(NAME, "v2")

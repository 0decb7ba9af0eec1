"""Running service replicas over one registry follow retrain, promote and rollback."""

from __future__ import annotations

import time
from contextlib import ExitStack

from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings
from tests.registry.conftest import NAME, retrain_args
from textcnn.cli import main
from textcnn.store import ModelStore


def served(client: TestClient) -> str:
    r = client.post("/classify", json={"text": "why was it so", "model": NAME})
    assert r.status_code == 200, r.text
    return r.json()["version"]


def wait_until_served(replicas: list[TestClient], version: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while any(served(replica) != version for replica in replicas):
        assert time.monotonic() < deadline, f"replicas still serve {[served(r) for r in replicas]}"
        time.sleep(0.05)


def test_replicas_switch_to_promoted_versions(registry: ModelStore, kw_files) -> None:
    settings = Settings(registry=registry.root, reload_interval=0.1)
    with ExitStack() as stack:
        replicas = [stack.enter_context(TestClient(create_app(settings))) for _ in range(2)]
        assert [served(r) for r in replicas] == ["v1", "v1"]

        assert main(map(str, retrain_args(registry, kw_files["new"], "--from-version", "v1"))) == 0
        wait_until_served(replicas, "v2")
        worse = retrain_args(registry, kw_files["new"], "--epochs", "1", "--lr", "1e-5")
        assert main(map(str, [*worse, "--dev", kw_files["test"]])) == 3
        assert main(["models", "rollback", "--registry", str(registry.root), "--name", NAME]) == 0
        wait_until_served(replicas, "v1")
        promote = ["models", "promote", "--registry", str(registry.root), "--name", NAME]
        assert main([*promote, "--version", "v3"]) == 0  # the candidate the gate refused
        wait_until_served(replicas, "v3")

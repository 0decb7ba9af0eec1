"""The S3 store on moto's server: the conditional pointer poll, the verified cache, claims
and the pointer's compare-and-swap, the lease, its errors, the CLI and the service on it."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings
from tests.registry.conftest import NAME, StoredFiles, use_s3
from tests.registry.test_cli_registry import TINY
from textcnn.cli import main
from textcnn.engine.bundle import Bundle
from textcnn.store import S3Store, StoreConflict, StoreError, StoreUnreachable, cache, open_store


@pytest.fixture
def s3_registry(moto_server, monkeypatch, tmp_path, kw_bundle: Bundle) -> S3Store:
    store = open_store(use_s3(moto_server, monkeypatch, tmp_path), create=True)
    store.publish(NAME, kw_bundle)
    return store


def requests(store: S3Store, operation: str) -> list[int]:
    """The HTTP status of every ``operation`` request the store's client makes from now."""
    statuses: list[int] = []

    def record(http_response, **_) -> None:
        statuses.append(http_response.status_code)

    store.client.meta.events.register(f"after-call.s3.{operation}", record)
    return statuses


def downloads(store: S3Store) -> list[str]:
    """The key of every object the store's client reads from now."""
    keys: list[str] = []

    def record(params, **_) -> None:
        keys.append(params["Key"])

    store.client.meta.events.register("before-parameter-build.s3.GetObject", record)
    return keys


def test_the_pointer_is_polled_with_a_conditional_get(s3_registry: S3Store, kw_bundle) -> None:
    replica = open_store(s3_registry.location)
    gets = requests(replica, "GetObject")
    assert [replica.current(NAME) for _ in range(3)] == ["v1"] * 3
    assert gets == [200, 304, 304]  # a 304 carries no body
    s3_registry.publish(NAME, kw_bundle)
    assert replica.current(NAME) == "v2"
    assert gets[-1] == 200


def test_a_version_is_downloaded_once_and_verified(
    s3_registry: S3Store, tmp_path, monkeypatch
) -> None:
    replica = open_store(s3_registry.location)
    keys = downloads(replica)
    first = replica.verify(NAME, "v1")
    assert first.is_relative_to(tmp_path / "cache" / "registry")
    assert replica.load(NAME)[0] == "v1"
    assert open_store(s3_registry.location).verify(NAME, "v1") == first  # another replica
    assert sum(k.endswith("/model.safetensors") for k in keys) == 1
    assert sum(k.endswith("/manifest.json") for k in keys) >= 2  # read on every load

    (first / "model.safetensors").write_bytes(b"damaged")  # the copy, not the version
    assert replica.verify(NAME, "v1") == first
    assert sum(k.endswith("/model.safetensors") for k in keys) == 2  # downloaded again

    files = StoredFiles(s3_registry)
    weights = files.read(f"{NAME}/versions/v1/model.safetensors")
    files.write(f"{NAME}/versions/v1/model.safetensors", weights[:-5])
    monkeypatch.setenv("TEXTCNN_CACHE", str(tmp_path / "new-cache"))  # a new replica
    with pytest.raises(StoreError, match="model.safetensors: checksum mismatch"):
        replica.verify(NAME, "v1")
    assert not list((tmp_path / "new-cache" / "registry").iterdir())  # nothing kept


def test_the_cache_keeps_the_most_recently_used_copies(
    s3_registry: S3Store, kw_bundle, tmp_path, monkeypatch
) -> None:
    """A replica following many retrains keeps ``KEEP`` copies, the one it serves among them."""
    monkeypatch.setattr(cache, "KEEP", 2)
    replica = open_store(s3_registry.location)
    v1 = replica.verify(NAME, "v1")
    for n in (2, 3):  # distinct files: distinct copies
        s3_registry.publish(NAME, kw_bundle, extra_files={"NOTE": f"v{n}"})
    v2 = replica.verify(NAME, "v2")
    os.utime(v2, (1, 1))  # long unused
    assert replica.verify(NAME, "v1") == v1  # used again: the newest
    v3 = replica.verify(NAME, "v3")
    assert sorted(p.name for p in (tmp_path / "cache" / "registry").iterdir()) == sorted(
        [v1.name, v3.name]
    )
    assert not v2.exists()
    assert replica.verify(NAME, "v2").is_dir()  # pruned is downloaded again when needed


def test_a_half_written_version_is_never_listed_and_its_number_is_skipped(
    s3_registry: S3Store, kw_bundle
) -> None:
    files = StoredFiles(s3_registry)
    files.write(f"{NAME}/versions/v2/.claim", b"{}")  # a publisher died after the weights
    files.write(f"{NAME}/versions/v2/model.safetensors", b"half")
    assert s3_registry.version_ids(NAME) == ["v1"]
    with pytest.raises(StoreError, match="unknown version 'v2'"):
        s3_registry.load(NAME, "v2")
    assert s3_registry.publish(NAME, kw_bundle) == "v3"
    assert s3_registry.version_ids(NAME) == ["v1", "v3"]


def test_of_two_publishers_one_moves_the_pointer_the_other_removes_its_version(
    s3_registry: S3Store, kw_bundle
) -> None:
    first, second = open_store(s3_registry.location), open_store(s3_registry.location)
    with first.lock(NAME), second.lock(NAME):  # both read the pointer at v1
        assert first.publish(NAME, kw_bundle, locked=True) == "v2"
        with pytest.raises(StoreConflict) as lost:
            second.publish(NAME, kw_bundle, locked=True)
    message = str(lost.value)
    assert "another publisher moved the pointer of 'kw'" in message and "names v2 now" in message
    assert "kw v3 is not served (removed)" in message
    assert s3_registry.current(NAME) == "v2"
    assert s3_registry.version_ids(NAME) == ["v1", "v2"]
    assert s3_registry.pointer(NAME)["history"] == ["v1", "v2"]
    assert s3_registry.publish(NAME, kw_bundle) == "v4"  # v3's number stays claimed
    with pytest.raises(StoreConflict, match="moved the pointer"), first.lock(NAME):
        second.promote(NAME, "v1")  # promote, rollback and prune compare-and-swap too
        first.promote(NAME, "v2")
    with pytest.raises(StoreConflict, match="moved the pointer"), first.lock(NAME):
        second.promote(NAME, "v4")
        first.prune(NAME, keep=1, locked=True)  # would remove v2
    assert s3_registry.version_ids(NAME) == ["v1", "v2", "v4"]
    with pytest.raises(StoreConflict, match="moved the pointer"), first.lock(NAME):
        second.rollback(NAME)
        first.rollback(NAME)


def test_the_training_lease(s3_registry: S3Store, caplog) -> None:
    files = StoredFiles(s3_registry)
    lease = f"{NAME}/.train.lease"
    files.write(lease, json.dumps({"owner": "pid 7 on gpu-box", "expires": time.time() + 60}))
    busy = pytest.raises(StoreError, match=r"being retrained.*held by pid 7 on gpu-box until")
    with busy, s3_registry.training(NAME):
        pass
    files.write(lease, json.dumps({"owner": "pid 7 on gpu-box", "expires": time.time() - 1}))
    renewing = open_store(s3_registry.location)
    renewing.lease_seconds = 0.6
    with caplog.at_level(logging.WARNING), renewing.training(NAME):
        taken = json.loads(files.read(lease))
        assert taken["owner"].startswith("pid ") and taken["owner"] != "pid 7 on gpu-box"
        time.sleep(1.0)
        assert json.loads(files.read(lease))["expires"] > taken["expires"]  # renewed
    assert "took over the training lease of model 'kw' from pid 7 on gpu-box" in caplog.text
    with pytest.raises(Exception, match="NoSuchKey"):
        files.read(lease)  # released


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unreachable(monkeypatch) -> str:
    """AWS settings naming an endpoint where nothing listens; the endpoint."""
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return endpoint


def test_an_unreachable_endpoint_is_one_line_naming_it(monkeypatch, capsys) -> None:
    endpoint = unreachable(monkeypatch)
    with pytest.raises(
        StoreUnreachable, match=f"cannot reach the registry s3://models/x at {endpoint}"
    ):
        open_store("s3://models/x")
    assert main(["models", "list", "--registry", "s3://models/x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"textcnn: error: cannot reach the registry s3://models/x at {endpoint}")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_without_boto3_the_error_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(StoreError, match=r"pip install 'textcnn\[s3\]'"):
        open_store("s3://models/x")


def test_the_cli_on_an_s3_registry(moto_server, monkeypatch, tmp_path, kw_files, capsys) -> None:
    registry = use_s3(moto_server, monkeypatch, tmp_path)
    train = ["train", "--data", kw_files["train"], "--registry", registry, "--name", NAME]
    assert main([*map(str, train), *TINY]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == f"{registry}/{NAME}/versions/v1"
    retrain = ["retrain", "--registry", registry, "--name", NAME, "--data", kw_files["new"]]
    assert main([*map(str, retrain), "--force", "--epochs", "1", "--no-progress"]) == 0
    source = ["--registry", registry, "--name", NAME]
    capsys.readouterr()
    assert main(["models", "list", "--registry", registry, "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(v["version"], v["current"]) for v in listed] == [("v1", False), ("v2", True)]
    assert main(["models", "show", *source, "--version", "v1"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["verified"] is True and shown["path"] == f"{registry}/{NAME}/versions/v1"
    assert main(["models", "rollback", *source]) == 0
    assert main(["models", "promote", *source, "--version", "v2"]) == 0
    assert main(["models", "prune", *source, "--keep", "1"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["pruned"] == []
    assert main(["predict", *source, "what a great film"]) == 0
    assert main(["export", *source, "--out", str(tmp_path / "kw.onnx")]) == 0
    assert (tmp_path / "kw.onnx").is_file()


def test_a_replica_keeps_its_version_when_the_next_does_not_verify(
    s3_registry: S3Store, kw_bundle
) -> None:
    settings = Settings(registry=s3_registry.location, reload_interval=0.1, runtime="torch")
    with TestClient(create_app(settings)) as client:
        assert (
            client.post("/classify", json={"text": "why", "model": NAME}).json()["version"] == "v1"
        )
        # a file v1 lacks: v2 is not v1's cached copy under another name (the cache is
        # keyed by content, and would rightly serve identical files without a download)
        s3_registry.publish(NAME, kw_bundle, make_current=False, extra_files={"NOTE": "v2"})
        files = StoredFiles(s3_registry)
        weights = f"{NAME}/versions/v2/model.safetensors"
        files.write(weights, files.read(weights)[:-7])
        pointer = s3_registry.pointer(NAME) | {"version": "v2", "history": ["v1", "v2"]}
        files.write(f"{NAME}/current.json", json.dumps(pointer).encode())
        deadline = time.monotonic() + 30
        while "errors" not in (ready := client.get("/ready").json()) or not ready["errors"]:
            assert time.monotonic() < deadline, ready
            time.sleep(0.1)
        assert ready["ready"] and ready["models"] == {NAME: "v1"}
        assert "model.safetensors: checksum mismatch" in ready["errors"][NAME]
        info = client.get("/models").json()["models"][0]
        assert info["version"] == "v1" and info["refused"][0]["version"] == "v2"
        metrics = client.get("/metrics").text
        assert f'textcnn_model_problem{{model="{NAME}",reason="verification"}} 1.0' in metrics
        assert client.post("/classify", json={"text": "why", "model": NAME}).status_code == 200


def test_a_service_on_an_unreachable_registry_is_not_ready_and_says_why(monkeypatch) -> None:
    endpoint = unreachable(monkeypatch)
    with TestClient(create_app(Settings(registry="s3://models/x", reload_interval=0))) as client:
        r = client.get("/ready")
        metrics = client.get("/metrics").text
    assert r.status_code == 503
    assert f"cannot reach the registry s3://models/x at {endpoint}" in r.json()["error"]
    assert "textcnn_registry_up 0.0" in metrics


def test_open_store_picks_the_backend(tmp_path: Path) -> None:
    assert type(open_store(tmp_path / "reg", create=True)).__name__ == "LocalStore"
    with pytest.raises(StoreError, match="not an S3 registry"):
        open_store("s3:///prefix")

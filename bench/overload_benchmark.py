"""Flood a real ``textcnn serve`` with /classify requests and print what it sheds.

For each client concurrency (closed loop: every client sends its next request as soon as its
last one is answered) the table gives the offered rate (answers of any status per second),
the served rate (200s per second), the share of 503s, whether every 503 carried
``Retry-After``, other failures, and the server's resident memory before the flood and at its
peak (``VmHWM``). A small queue (``--max-queue-inputs``) makes the server shed early; a
request is ``--texts`` texts of ``--chars`` characters, so that it costs the model real work.

Usage: ``python -m bench.overload_benchmark --registry DIR [--concurrency 8,64,256]
[--duration 5] [--repeats 3]`` (a registry with a ``text`` model, e.g. the demo's).
``tests/service/test_overload.py`` runs the same flood for a few seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from bench.jsonout import command, json_out, write_json
from bench.ports import free_port

WORDS = [
    "the",
    "a",
    "my",
    "why",
    "how",
    "great",
    "awful",
    "film",
    "book",
    "day",
    "service",
    "store",
    "loved",
    "hated",
]


@contextlib.contextmanager
def serve(
    args: list[str], env: dict[str, str], log: Path, timeout: float = 120
) -> Iterator[tuple[str, subprocess.Popen]]:
    """``textcnn serve ARGS`` on a free loopback port, once /ready answers 200."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTCNN_")} | env
    command = [sys.executable, "-m", "textcnn", "serve", *args, "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the server exited:\n{log.read_text()}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not become ready:\n{log.read_text()}")
                time.sleep(0.25)
            yield url, process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def memory_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` (now) and ``VmHWM`` (peak) of a process, in KiB (Linux)."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {
        k: int(v.split()[0])
        for k, _, v in (x.partition(":") for x in lines)
        if k in ("VmRSS", "VmHWM")
    }


def classify_body(texts: int, chars: int, seed: int = 0) -> bytes:
    rng = random.Random(seed)

    def text() -> str:
        words: list[str] = []
        while sum(len(w) + 1 for w in words) < chars:
            words.append(rng.choice(WORDS))
        return " ".join(words)[:chars]

    return json.dumps({"texts": [text() for _ in range(texts)]}).encode()


@dataclass
class Flood:
    seconds: float
    statuses: Counter = field(default_factory=Counter)
    no_retry_after: int = 0  # 503s without Retry-After
    bad_results: int = 0  # 200s whose body does not hold one result per text
    transport_errors: int = 0

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())

    @property
    def other_failures(self) -> int:
        """Anything but a 200 or a 503 with Retry-After."""
        wrong = self.answered - self.statuses[200] - self.statuses[503]
        return wrong + self.no_retry_after + self.bad_results + self.transport_errors


async def flood_async(url: str, body: bytes, texts: int, concurrency: int, seconds: float) -> Flood:
    result = Flood(seconds)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        stop = time.monotonic() + seconds

        async def one_client() -> None:
            while time.monotonic() < stop:
                try:
                    r = await client.post("/classify", content=body, headers=headers)
                except httpx.TransportError:
                    result.transport_errors += 1
                    continue
                result.statuses[r.status_code] += 1
                if r.status_code == 503 and not r.headers.get("retry-after", "").isdigit():
                    result.no_retry_after += 1
                if r.status_code == 200 and len(r.json()["results"]) != texts:
                    result.bad_results += 1

        start = time.monotonic()
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        result.seconds = time.monotonic() - start
    return result


def flood(url: str, body: bytes, texts: int, concurrency: int, seconds: float) -> Flood:
    """``concurrency`` closed-loop clients posting ``body`` to /classify for ``seconds``."""
    return asyncio.run(flood_async(url, body, texts, concurrency, seconds))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--registry", type=Path, required=True)
    p.add_argument("--concurrency", default="8,64,256")
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--texts", type=int, default=32)
    p.add_argument("--chars", type=int, default=2000)
    p.add_argument("--max-queue-inputs", type=int, default=64)
    p.add_argument("--max-queue-ms", type=float, default=1000)
    p.add_argument("--log", type=Path, default=Path("overload-server.log"))
    p.add_argument("--json-out", **json_out("overload_benchmark"))
    a = p.parse_args()
    levels = [int(c) for c in a.concurrency.split(",")]
    body = classify_body(a.texts, a.chars)
    env = {
        "TEXTCNN_MAX_QUEUE_INPUTS": str(a.max_queue_inputs),
        "TEXTCNN_MAX_QUEUE_MS": str(a.max_queue_ms),
        "TEXTCNN_LOG_LEVEL": "warning",
        "OMP_NUM_THREADS": "1",
    }
    runs: dict[int, list[Flood]] = {c: [] for c in levels}
    args = ["--registry", str(a.registry.absolute()), "--workers", "1"]
    with serve(args, env, a.log) as (url, process):
        before = memory_kib(process.pid)["VmRSS"]
        flood(url, body, a.texts, 4, 1.0)  # warm-up
        for _ in range(a.repeats):  # interleaved: each repeat walks every level
            for c in levels:
                runs[c].append(flood(url, body, a.texts, c, a.duration))
        peak = memory_kib(process.pid)["VmHWM"]
    print(
        f"{a.texts} texts x {a.chars} chars per request, queue {a.max_queue_inputs} inputs, "
        f"deadline {a.max_queue_ms:g} ms, 1 worker; median of {a.repeats} interleaved "
        f"{a.duration:g} s floods"
    )
    print(
        "| clients | offered req/s | served req/s | 503 share | 503 w/o Retry-After | "
        "other failures |"
    )
    print("|---|---|---|---|---|---|")
    for c in levels:
        fl = runs[c]
        offered = statistics.median(f.answered / f.seconds for f in fl)
        served = statistics.median(f.statuses[200] / f.seconds for f in fl)
        shed = statistics.median(f.statuses[503] / max(f.answered, 1) for f in fl)
        print(
            f"| {c} | {offered:.0f} | {served:.0f} | {shed:.0%} | "
            f"{sum(f.no_retry_after for f in fl)} | {sum(f.other_failures for f in fl)} |"
        )
    print(f"server RSS: {before / 1024:.0f} MiB before, {peak / 1024:.0f} MiB peak")
    report = {
        "command": command("bench.overload_benchmark"),
        "settings": env,
        "rss_kib": {"before": before, "peak": peak},
        "floods": {c: [asdict(f) for f in fl] for c, fl in runs.items()},  # every repeat
    }
    write_json(a.json_out, report)


if __name__ == "__main__":
    main()

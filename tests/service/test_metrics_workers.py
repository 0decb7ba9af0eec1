"""Two uvicorn workers, one /metrics: prometheus-client's multiprocess mode sums them."""

from __future__ import annotations

import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.service.servers import serve

OK = r'textcnn_http_requests_total\{method="POST",route="/classify",status="200"\} (\S+)'


def served(text: str) -> float:
    found = re.search(OK, text)
    return float(found[1]) if found else 0.0


def per_worker(directory: Path, scratch: Path) -> dict[int, float]:
    """Requests served by each worker, read from its own counter file alone."""
    counts = {}
    for file in directory.glob("counter_*.db"):
        alone = scratch / file.stem
        alone.mkdir(parents=True, exist_ok=True)
        shutil.copy(file, alone / file.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, str(alone))
        counts[int(file.stem.split("_")[1])] = served(generate_latest(registry).decode())
    return counts


def test_metrics_add_up_over_two_workers(registry_root: Path, tmp_path: Path) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_1.db").write_bytes(b"stale")  # an earlier run's: wiped at start
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory), "TEXTCNN_LOG_LEVEL": "warning"}
    args = ["--registry", str(registry_root), "--workers", "2"]
    sent = 0
    with serve(args, env, tmp_path / "server.log") as (url, _):

        def classify(i: int) -> int:  # a fresh connection each: either worker may take it
            return httpx.post(f"{url}/classify", json={"text": f"why {i}"}, timeout=30).status_code

        deadline = time.monotonic() + 60
        with ThreadPoolExecutor(8) as pool:
            while True:
                assert set(pool.map(classify, range(sent, sent + 16))) == {200}
                sent += 16
                counts = per_worker(directory, tmp_path / "alone")
                if len(counts) == 2 and all(counts.values()):
                    break
                assert time.monotonic() < deadline, f"one worker took every request: {counts}"
        # a request is counted once its response is sent, a moment after the client has it
        settled = time.monotonic() + 10
        while sum(counts.values()) < sent and time.monotonic() < settled:
            time.sleep(0.05)
            counts = per_worker(directory, tmp_path / "alone")
        scrapes = [httpx.get(f"{url}/metrics", timeout=30).text for _ in range(6)]
    assert sum(counts.values()) == sent
    for text in scrapes:  # whichever worker answered, the sum over both
        assert served(text) == sent
        assert 'textcnn_model_loaded{modality="text",model="text",version="v1"} 1.0' in text
        assert 'textcnn_queue_depth{model="text"} 0.0' in text

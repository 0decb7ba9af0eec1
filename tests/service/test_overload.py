"""Overload: a real uvicorn server with a small queue, flooded at high concurrency."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.service.servers import classify_body, flood, memory_kib, serve

# What the server may grow by during the flood: its queue holds at most 32 texts of 1000
# characters and 64 connections hold one 16 kB body each; anything unbounded shows up here.
RSS_GROWTH_BOUND_MIB = 150


def test_a_flood_is_shed_with_503_and_retry_after(registry_root: Path, tmp_path: Path) -> None:
    env = {
        "TEXTCNN_MAX_QUEUE_INPUTS": "32",
        "TEXTCNN_MAX_BATCH_SIZE": "16",
        "TEXTCNN_RETRY_AFTER": "2",
        "TEXTCNN_LOG_LEVEL": "warning",
        "OMP_NUM_THREADS": "1",
    }
    args = ["--registry", str(registry_root)]
    texts = 16
    with serve(args, env, tmp_path / "server.log") as (url, process):
        before = memory_kib(process.pid)["VmRSS"]
        result = flood(url, classify_body(texts, 1000), texts, concurrency=64, seconds=4)
        peak = memory_kib(process.pid)["VmHWM"]
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
    assert result.transport_errors == 0
    assert set(result.statuses) <= {200, 503}, result.statuses  # no other 5xx, no 4xx
    assert result.statuses[503] > 0, "the flood never filled the queue"
    assert result.statuses[200] > 0
    assert result.no_retry_after == 0 and result.bad_results == 0
    shed = re.search(
        r'textcnn_shed_requests_total\{model="text",reason="queue_full"\} (\S+)', metrics
    )
    assert shed and float(shed[1]) == result.statuses[503]  # each one counted once
    assert (peak - before) / 1024 < RSS_GROWTH_BOUND_MIB, (before, peak)

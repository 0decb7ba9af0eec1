"""Prometheus metrics, one ``CollectorRegistry`` per app (tests build many apps).

With several uvicorn workers (``textcnn serve --workers N``) the metrics run in
prometheus-client's multiprocess mode: ``PROMETHEUS_MULTIPROC_DIR`` names a directory where
every worker writes its values, and /metrics, whichever worker answers, reports the sum over
all of them (counters and histograms add up; queue depth sums over live workers; a model
version counts as loaded while any live worker serves it).
"""

from __future__ import annotations

import glob
import os
import re
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


# Why a model is not served at its current version (``textcnn_model_problem``'s reasons).
PROBLEMS = ("registry", "verification", "load")

# Methods counted by name; any other (a client may send anything) is counted as "other".
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "textcnn_http_requests",
            "HTTP requests by route template, method and status code.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "textcnn_http_request_duration_seconds",
            "Time from request start to the end of the response, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "textcnn_batch_size",
            "Inputs per forward pass, by model.",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.inference_seconds = Histogram(
            "textcnn_batch_seconds",
            "Time to encode and run one batch, by model.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "textcnn_queue_depth",
            "Inputs waiting for a forward pass, by model.",
            ["model"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.shed = Counter(
            "textcnn_shed_requests",
            "Requests refused with 503 to shed load, by model and reason (queue_full: the "
            "queue was at its limit; deadline: waited past TEXTCNN_MAX_QUEUE_MS).",
            ["model", "reason"],
            registry=r,
        )
        self.model_version = Gauge(
            "textcnn_model_loaded",
            "1 for each model version served (by any live worker), 0 for one retired.",
            ["model", "version", "modality"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.reloads = Counter(
            "textcnn_model_loads",
            "Model version loads by outcome (loaded or refused).",
            ["model", "outcome"],
            registry=r,
        )
        self.model_problem = Gauge(
            "textcnn_model_problem",
            "1 while a model is not served at its current version, by reason: registry (its "
            "pointer cannot be read: an unreachable registry or refused credentials), "
            "verification (the current version's files do not match its manifest) or load "
            "(it failed to load or to run); 0 once that is over. /models says more.",
            ["model", "reason"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.registry_up = Gauge(
            "textcnn_registry_up",
            "1 when the last poll read the registry, 0 when it could not (/ready says why).",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.sentence_cache = Counter(
            "textcnn_sentence_cache_lookups",
            "Served texts whose sentence embedding was looked up, by result (hit: from the "
            "cache, no encoder forward; miss: encoded).",
            ["result"],
            registry=r,
        )

    def set_problem(self, model: str, reason: str | None) -> None:
        """Mark ``model``'s one current problem (``PROBLEMS``), or none."""
        for known in PROBLEMS:
            self.model_problem.labels(model, known).set(1 if known == reason else 0)

    def count_sentence_lookups(self, hits: int, misses: int) -> None:
        """The embedding cache's lookups (``textcnn.text.embedding_cache``)."""
        if hits:
            self.sentence_cache.labels("hit").inc(hits)
        if misses:
            self.sentence_cache.labels("miss").inc(misses)

    def retire_version(self, model: str, version: str, modality: str) -> None:
        """A version is no longer served: drop its series (multiprocess mode cannot drop a
        series, so there it reads 0)."""
        if multiprocess_dir() is None:
            self.model_version.remove(model, version, modality)
        else:
            self.model_version.labels(model, version, modality).set(0)

    def render(self) -> bytes:
        path = multiprocess_dir()
        if path is None:
            return generate_latest(self.registry)
        forget_dead_workers(path)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path)
        return generate_latest(registry)


def multiprocess_dir() -> str | None:
    """The multiprocess directory, when this process runs in prometheus-client's
    multiprocess mode (set before the process started)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def forget_dead_workers(path: str) -> None:
    """Drop the live gauges of worker processes that have died (uvicorn restarts them):
    their counters still count, their queue depths no longer do."""
    pids = {
        int(m[1])
        for f in glob.glob(os.path.join(path, "gauge_live*_*.db"))
        if (m := re.search(r"_(\d+)\.db$", f))
    }
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, path)
        except PermissionError:  # alive, another user's
            pass


class RequestMetricsMiddleware:
    """Counts requests and times them by route template (``unmatched`` for unknown paths).

    ``paths`` names the app's routes for requests answered before routing (a 413 on size).
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, paths: set[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            template = getattr(scope.get("route"), "path", None)
            if template is None:
                template = scope["path"] if scope["path"] in self.paths else "unmatched"
            method = scope["method"] if scope["method"] in HTTP_METHODS else "other"
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - start)

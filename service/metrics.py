"""Prometheus metrics, one ``CollectorRegistry`` per app (tests build many apps).

With several uvicorn workers each process keeps and exposes its own metrics: /metrics shows
the worker that answered. Scrape per process, or aggregate over scrapes (counters and
histograms add up).
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


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
        )
        self.model_version = Gauge(
            "textcnn_model_loaded",
            "1 for each model version this process serves.",
            ["model", "version", "modality"],
            registry=r,
        )
        self.reloads = Counter(
            "textcnn_model_loads",
            "Model version loads by outcome (loaded or refused).",
            ["model", "outcome"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


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

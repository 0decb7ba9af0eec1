"""``textcnn serve``: the REST service under uvicorn (uvloop + httptools), or with ``--ray`` as
Ray Serve replicas (``service.ray_app``).

Flags override ``TEXTCNN_*`` environment settings; they reach every worker process through
those same environment variables, since uvicorn starts workers from an import string. With
more than one worker the Prometheus metrics run in multiprocess mode (see ``service.metrics``):
``PROMETHEUS_MULTIPROC_DIR``, or a fresh temporary directory, holds every worker's values.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from textcnn.errors import TextCNNError
from textcnn.store import is_s3

# flag dest -> Settings field
FLAGS = {
    "registry": "registry",
    "bundle": "bundles",
    "serve_models": "models",
    "text_model": "text_model",
    "image_model": "image_model",
    "host": "host",
    "port": "port",
    "workers": "workers",
    "max_batch_size": "max_batch_size",
    "max_wait_ms": "max_wait_ms",
    "reload_interval": "reload_interval",
    "threads": "torch_threads",
    "device": "device",
    "runtime": "runtime",
    "log_level": "log_level",
    "limit_concurrency": "limit_concurrency",
}

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve models over REST (/classify, /classify-image, /models, /metrics)",
        description="Serve the registry's current model versions over HTTP. Every option "
        "also reads from the environment (TEXTCNN_<SETTING>); flags win.",
    )
    p.add_argument("--registry", help="model registry directory, or s3://bucket/prefix")
    p.add_argument(
        "--bundle",
        action="append",
        metavar="NAME=DIR",
        help="serve a plain bundle directory as model NAME (repeatable)",
    )
    p.add_argument(
        "--models", dest="serve_models", help="comma-separated model names to serve (default: all)"
    )
    p.add_argument("--text-model", help="default model of /classify (text)")
    p.add_argument("--image-model", help="default model of /classify-image (image)")
    p.add_argument("--host", help="bind address (127.0.0.1)")
    p.add_argument("--port", type=int, help="bind port (8000)")
    p.add_argument("--workers", type=int, help="worker processes (1)")
    p.add_argument("--max-batch-size", type=int, help="inputs per forward pass (64)")
    p.add_argument("--max-wait-ms", type=float, help="longest wait for a fuller batch (0)")
    p.add_argument("--reload-interval", type=float, help="seconds between version checks (2)")
    p.add_argument("--threads", type=int, help="intra-op threads per worker (1)")
    p.add_argument("--device", help="torch device (cpu)")
    p.add_argument(
        "--runtime", choices=["onnx", "torch"], help="what runs CPU forward passes (onnx)"
    )
    p.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument(
        "--limit-concurrency", type=int, help="connections per worker before uvicorn's 503 (none)"
    )
    p.add_argument(
        "--ray",
        action="store_true",
        help="serve as Ray Serve replicas on the Ray cluster of RAY_ADDRESS or `ray start`, "
        "else on a local one (needs textcnn[ray]; pays off across hosts, not on one)",
    )
    p.add_argument("--replicas", type=int, help="Ray Serve replicas, with --ray (1)")
    p.set_defaults(func=cmd_serve)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for dest, name in FLAGS.items():
        value = getattr(args, dest)
        if value is None:
            continue
        if dest == "bundle":
            pairs = [item.partition("=") for item in value]
            if any(not n or not d for n, _, d in pairs):
                raise TextCNNError("--bundle takes NAME=DIR")
            value = {n: str(Path(d).absolute()) for n, _, d in pairs}
        elif dest == "serve_models":
            value = [n.strip() for n in value.split(",") if n.strip()]
        elif dest == "registry":
            value = value if is_s3(value) else str(Path(value).absolute())
        values[name] = value
    return values


def export_settings(values: dict[str, Any], prefix: str) -> None:
    """Put settings into ``TEXTCNN_*`` (``prefix``) environment variables (JSON for lists and
    dicts)."""
    for name, value in values.items():
        text = json.dumps(value) if isinstance(value, dict | list) else str(value)
        os.environ[f"{prefix}{name.upper()}"] = text


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn
        from pydantic import ValidationError

        from service.settings import ENV_PREFIX, Settings
    except ImportError as exc:
        raise TextCNNError(
            f"textcnn serve needs the service extra ({exc.name} is missing): "
            "pip install 'textcnn[serve]'"
        ) from None

    export_settings(_overrides(args), ENV_PREFIX)
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise TextCNNError(f"invalid service settings: {problems}") from None
    if args.ray:
        return serve_on_ray(settings, 1 if args.replicas is None else args.replicas)
    if args.replicas is not None:
        raise TextCNNError("--replicas needs --ray (uvicorn runs --workers processes)")
    with metrics_directory(settings.workers):
        uvicorn.run(
            "service.main:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            limit_concurrency=settings.limit_concurrency,
            loop="uvloop",
            http="httptools",
            log_level=settings.log_level,
            access_log=False,
        )
    return 0


def serve_on_ray(settings: Any, replicas: int) -> int:
    """``--ray``: each replica one process with its own models, so uvicorn's ``--workers``
    has no meaning there."""
    if replicas < 1:
        raise TextCNNError("--replicas must be at least 1")
    if settings.workers > 1:
        raise TextCNNError("--workers is for uvicorn; with --ray, run more --replicas")
    try:
        from service import ray_app
    except ImportError as exc:
        raise TextCNNError(
            f"textcnn serve --ray needs the ray extra ({exc.name} is missing): "
            "pip install 'textcnn[ray]'"
        ) from None
    ray_app.run(settings, replicas)
    return 0


@contextlib.contextmanager
def metrics_directory(workers: int) -> Iterator[None]:
    """Prometheus multiprocess mode for more than one worker: ``$PROMETHEUS_MULTIPROC_DIR``
    emptied of an earlier run's values, or a temporary directory removed afterwards."""
    if workers <= 1:
        yield
        return
    given = os.environ.get(MULTIPROC_ENV)
    path = Path(given) if given else Path(tempfile.mkdtemp(prefix="textcnn-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield
    finally:
        if not given:
            shutil.rmtree(path, ignore_errors=True)

"""``textcnn serve`` for real in tests: uvicorn on a free loopback port, stopped afterwards
(``servers.serve``, the benchmark's launcher, with a registry and its URL only)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.service.servers import serve


@contextlib.contextmanager
def live_server(
    registry: Path, log_dir: Path, env: dict[str, str] | None = None, workers: int = 1
) -> Iterator[str]:
    """The server's base URL once /ready answers 200; ``env`` adds ``TEXTCNN_*`` settings."""
    args = ["--registry", str(registry), "--workers", str(workers), "--log-level", "warning"]
    with serve(args, env or {}, log_dir / f"server-{id(args)}.log", timeout=90) as (url, _):
        yield url

"""Limits on what the service takes in: request body sizes, enforced before the body is read
in full, and per-model queue limits, enforced by the batcher (``QueueLimits``)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import PayloadTooLarge


@dataclass(frozen=True)
class QueueLimits:
    """How much one model's batcher queues before it sheds load (503 with ``Retry-After``).

    ``max_inputs`` and ``max_bytes`` bound the inputs waiting for a forward pass (bytes for
    images, characters for texts); a request that would pass either is refused at once, unless
    the queue is empty (a request may always be served alone). ``max_wait`` (seconds, 0: none)
    is the longest a request may wait for its first forward pass: past it, it is answered 503
    rather than late. ``retry_after`` (seconds) is what refused clients are told to wait.
    """

    max_inputs: int
    max_bytes: int
    max_wait: float
    retry_after: int

    def admits(self, queued: int, queued_bytes: int, inputs: int, nbytes: int) -> bool:
        """Whether a request of ``inputs`` totalling ``nbytes`` may join the queue."""
        if queued == 0:
            return True
        return queued + inputs <= self.max_inputs and queued_bytes + nbytes <= self.max_bytes

    def full(self, queued: int, queued_bytes: int) -> bool:
        """Whether even one more input would be refused (checked before a body is read)."""
        return queued >= self.max_inputs or queued_bytes >= self.max_bytes


class BodySizeLimitMiddleware:
    """413 for a body over its route's limit: from ``Content-Length`` before reading anything,
    or as soon as a streamed (chunked) body passes the limit. A path's limit is its entry in
    ``by_path``, else that of the longest ``by_prefix`` it starts with, else ``default``."""

    def __init__(
        self,
        app: ASGIApp,
        default: int,
        by_path: dict[str, int],
        by_prefix: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.default = default
        self.by_path = by_path
        self.by_prefix = sorted((by_prefix or {}).items(), key=lambda kv: -len(kv[0]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        message = f"request body is larger than {limit} bytes"
        for key, value in scope["headers"]:
            if key == b"content-length" and value.isdigit() and int(value) > limit:
                await JSONResponse({"detail": message}, 413)(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(message)
            return msg

        await self.app(scope, limited_receive, send)

    def _limit(self, path: str) -> int:
        if path in self.by_path:
            return self.by_path[path]
        return next((n for p, n in self.by_prefix if path.startswith(p)), self.default)

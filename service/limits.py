"""Request body size limits, enforced before the body is read in full."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import PayloadTooLarge


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

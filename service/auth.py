"""Optional API keys: ``Authorization: Bearer <key>`` on every route but /health and /ready.

Keys come from ``TEXTCNN_API_KEYS`` and/or ``TEXTCNN_API_KEYS_FILE`` (one a line; ``#``
comments; a line ``sha256:<hex>`` holds a key's SHA-256 rather than the key, so the file
need not hold secrets). Only digests are kept in memory; a presented key is hashed and
compared with every digest in constant time. Without keys, authentication is off and the
OpenAPI schema declares none.

Routers are protected where ``create_app`` includes them: ``dependencies=api_key_guard(s)``
adds ``require_api_key`` (and the bearer scheme behind /docs' Authorize button) when keys
are configured, nothing otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.params import Depends as DependsParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.settings import Settings

DIGEST_PREFIX = "sha256:"
REALM = 'Bearer realm="textcnn"'

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An API key (TEXTCNN_API_KEYS or TEXTCNN_API_KEYS_FILE), sent as "
    "`Authorization: Bearer <key>`.",
)


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def key_digests(settings: Settings) -> list[bytes]:
    """The SHA-256 of every configured key; a clear error for an unreadable key file."""
    keys = [k.get_secret_value() for k in settings.api_keys]
    digests = [digest(k) for k in keys if k]
    if settings.api_keys_file is not None:
        try:
            lines = Path(settings.api_keys_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read TEXTCNN_API_KEYS_FILE: {exc}") from None
        for number, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith(DIGEST_PREFIX):
                try:
                    value = bytes.fromhex(line.removeprefix(DIGEST_PREFIX))
                except ValueError:
                    value = b""
                if len(value) != hashlib.sha256().digest_size:
                    raise ValueError(
                        f"TEXTCNN_API_KEYS_FILE line {number}: sha256: needs 64 hex digits"
                    )
                digests.append(value)
            else:
                digests.append(digest(line))
    return digests


def unauthorized(detail: str, error: str | None = None) -> HTTPException:
    challenge = REALM + (f', error="{error}"' if error else "")
    return HTTPException(401, detail, headers={"WWW-Authenticate": challenge})


async def require_api_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    """401 unless the request carries one of the app's keys (``app.state.api_keys``)."""
    digests: list[bytes] = request.app.state.api_keys
    if not digests:
        return
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized("an API key is required: send `Authorization: Bearer <key>`")
    presented = digest(credentials.credentials)
    accepted = False
    for known in digests:  # every digest, always: no timing hint of which one matched
        accepted |= hmac.compare_digest(presented, known)
    if not accepted:
        raise unauthorized("invalid API key", "invalid_token")


def api_key_guard(settings: Settings, *, metrics: bool = False) -> list[DependsParam]:
    """Dependencies for ``include_router``: ``require_api_key`` when keys are configured
    (for the metrics router only if ``TEXTCNN_METRICS_AUTH``), else none."""
    enabled = bool(settings.api_keys or settings.api_keys_file)
    if not enabled or (metrics and not settings.metrics_auth):
        return []
    return [Depends(require_api_key)]

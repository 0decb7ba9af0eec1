"""Optional API keys: ``Authorization: Bearer <key>`` on every route but the open ones (the
probes, the page, the docs; the list: docs/api.md, API keys).

Keys come from ``TEXTCNN_API_KEYS`` and/or ``TEXTCNN_API_KEYS_FILE`` (one a line; ``#``
comments; a line ``sha256:<hex>`` holds a key's SHA-256 rather than the key, so the file
need not hold secrets). Only digests are kept in memory; a presented key is hashed and
compared with every digest in constant time. Keys that are configured but cannot be used
stop the start (``service.api_keys``); without keys, authentication is off and the OpenAPI
schema declares none.

Routers are protected where ``create_app`` includes them: ``dependencies=api_key_guard(s)``
adds ``require_api_key`` (and the bearer scheme behind /docs' Authorize button) when keys
are configured, nothing otherwise.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.params import Depends as DependsParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service import api_keys
from service.settings import Settings

REALM = 'Bearer realm="textcnn"'

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An API key (TEXTCNN_API_KEYS or TEXTCNN_API_KEYS_FILE), sent as "
    "`Authorization: Bearer <key>`.",
)


def key_digests(settings: Settings) -> list[bytes]:
    """The SHA-256 of every configured key; ``ValueError`` for keys that cannot be used
    (``service.api_keys``: the settings refuse them too, this re-reads the file)."""
    keys = [k.get_secret_value() for k in settings.api_keys]
    return api_keys.key_digests(keys, settings.api_keys_file)


def unauthorized(detail: str, error: str | None = None) -> HTTPException:
    challenge = REALM + (f', error="{error}"' if error else "")
    return HTTPException(401, detail, headers={"WWW-Authenticate": challenge})


def keys_configured(settings: Settings) -> bool:
    return bool(settings.api_keys or settings.api_keys_file)


def holds_key(request: Request, credentials: HTTPAuthorizationCredentials | None) -> bool:
    """Whether ``credentials`` are a bearer key among the app's (``app.state.api_keys``);
    never with no digests: the check fails closed."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        return False
    presented = api_keys.digest(credentials.credentials)
    accepted = False
    for known in request.app.state.api_keys:  # every digest: no timing hint of which matched
        accepted |= hmac.compare_digest(presented, known)
    return accepted


async def require_api_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    """401 unless the request carries one of the app's keys (``holds_key``)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized("an API key is required: send `Authorization: Bearer <key>`")
    if not holds_key(request, credentials):
        raise unauthorized("invalid API key", "invalid_token")


async def may_read_models(request: Request) -> bool:
    """Whether the request may learn the served models' names and versions: always with
    keys off, else only with a valid key. For the open probes, which must not ask for one
    (no security requirement in the OpenAPI schema, no 401)."""
    if not keys_configured(request.app.state.settings):
        return True
    return holds_key(request, await bearer(request))


def api_key_guard(settings: Settings, *, metrics: bool = False) -> list[DependsParam]:
    """Dependencies for ``include_router``: ``require_api_key`` when keys are configured
    (for the metrics router only if ``TEXTCNN_METRICS_AUTH``), else none."""
    if not keys_configured(settings) or (metrics and not settings.metrics_auth):
        return []
    return [Depends(require_api_key)]

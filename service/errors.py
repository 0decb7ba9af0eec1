"""Client-facing errors: each maps to one HTTP status and a ``{"detail": "..."}`` body; and
``public_error``, what a client may see of a problem the service logs in full."""

from __future__ import annotations

import re
from collections.abc import Sequence

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError


class ServiceError(HTTPException):
    status_code = 500

    def __init__(self, detail: str) -> None:
        super().__init__(self.status_code, detail)


class ModelNotFound(ServiceError):
    status_code = 404


class PayloadTooLarge(ServiceError):
    status_code = 413


class UnsupportedMedia(ServiceError):
    status_code = 415


class ModelUnavailable(ServiceError):
    status_code = 503


class Overloaded(ServiceError):
    """503 with ``Retry-After``: a model's queue is full, or a request waited past its
    deadline. ``reason`` (``queue_full``, ``deadline``) labels the shed-requests metric."""

    status_code = 503

    def __init__(self, detail: str, reason: str, retry_after: int) -> None:
        super().__init__(detail)
        self.reason = reason
        self.headers = {"Retry-After": str(retry_after)}


def invalid(loc: Sequence[str | int], message: str, kind: str = "value_error") -> Exception:
    """A 422 naming the offending field, shaped like pydantic's own validation errors."""
    return RequestValidationError([{"type": kind, "loc": tuple(loc), "msg": message}])


_WORD = re.compile(r"[^\s'\"`()\[\]{}<>,;]+")  # what may be a path: no spaces, quotes, brackets
_SEPARATORS = re.compile(r"[/\\]+")
_ROOTED = re.compile(r"[/\\~.]|[A-Za-z][\w+.-]*://|[A-Za-z]:[/\\]")  # /, ~, ./, s3://, C:\
_FILE_NAME = re.compile(r"\.[A-Za-z]\w*$")  # config.json, model.safetensors
_URL = re.compile(r"[A-Za-z][\w+.-]*://")


def _scrubbed(word: str) -> str:
    """``word`` cut to its last part when it is a path: from the root, home, the current
    directory, a URL to a file or a drive, or relative with two separators or a file name at
    its end (``v3/config.json``). ``text/plain``, ``and/or``, ``3/4`` and a URL that names no
    file (a registry, an endpoint) stay as they are."""
    path = word.rstrip(":.")
    if not _SEPARATORS.search(path) or re.fullmatch(r"[\d/\\.:-]+", path):
        return word
    parts = [part for part in _SEPARATORS.split(path) if part]
    if not (_ROOTED.match(path) or len(parts) > 2 or _FILE_NAME.search(parts[-1])):
        return word
    if _URL.match(path) and not _FILE_NAME.search(parts[-1]):
        return word  # a registry or endpoint the operator named (s3://bucket/prefix, http://host)
    return (parts[-1] if parts else "/") + word[len(path) :]


def public_error(message: str | None) -> str | None:
    """An error as clients see it: its first line, every file path (absolute or relative)
    cut to its last part (the log has the whole message; paths and tracebacks say too much
    about the host)."""
    if message is None:
        return None
    first = message.strip().splitlines()[0] if message.strip() else message
    return _WORD.sub(lambda m: _scrubbed(m[0]), first)

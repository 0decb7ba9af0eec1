"""Client-facing errors: each maps to one HTTP status and a ``{"detail": "..."}`` body."""

from __future__ import annotations

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

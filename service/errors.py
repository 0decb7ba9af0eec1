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


def invalid(loc: Sequence[str | int], message: str, kind: str = "value_error") -> Exception:
    """A 422 naming the offending field, shaped like pydantic's own validation errors."""
    return RequestValidationError([{"type": kind, "loc": tuple(loc), "msg": message}])

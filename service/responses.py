"""JSON responses serialised once, by orjson, from plain dicts and lists.

A route that returns a model instance or a dict through ``response_model`` has FastAPI
validate it against the model and serialise it (pydantic, per request); the hot routes build
their bodies from values that are already checked, so they skip that pass. ``response_model``
stays on those routes for the OpenAPI schema.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class FastJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)

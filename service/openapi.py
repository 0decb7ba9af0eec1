"""The OpenAPI document's parts that the models alone do not give: each route's error
responses and self-parsed request bodies, and the request schema with the configured limits
that ``create_app`` puts in place of ``ClassifyRequest``'s."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from service.inputs import TEXT
from service.schemas import ClassifyRequest, ErrorResponse, ValidationErrorResponse
from service.settings import Settings


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error status codes."""
    descriptions = {
        404: "Unknown model.",
        413: "Body or image too large.",
        415: "Unsupported media type or undecodable image.",
        422: "Invalid input; `message` names the field.",
        503: "No model loaded, or the model is overloaded (then with `Retry-After`).",
    }
    headers = {
        503: {
            "Retry-After": {
                "description": "Seconds to wait before retrying (when shedding load).",
                "schema": {"type": "integer"},
            }
        }
    }
    return {
        code: {
            "model": ValidationErrorResponse if code == 422 else ErrorResponse,
            "description": descriptions[code],
            **({"headers": headers[code]} if code in headers else {}),
        }
        for code in codes
    }


def json_request_body(model: type[BaseModel], examples: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a route that parses ``model`` itself (see ``deps.read_json``)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": model.model_json_schema(), "examples": examples}
            },
        }
    }


def classify_request_schema(settings: Settings) -> dict[str, Any]:
    """``ClassifyRequest``'s JSON schema as the service checks it: `text` xor `texts` (one of
    them a string or a list, the other absent or null), texts non-blank (a non-whitespace
    character) and within the configured limits."""
    schema = ClassifyRequest.model_json_schema()
    text = TEXT.schema(settings)
    texts = {"type": "array", "items": text, "minItems": 1, "maxItems": TEXT.max_inputs(settings)}
    props = schema["properties"]
    props["text"]["anyOf"] = [text, {"type": "null"}]
    props["texts"]["anyOf"] = [texts, {"type": "null"}]
    schema["oneOf"] = [
        {"required": ["text"], "properties": {"text": {"type": "string"}}},
        {"required": ["texts"], "properties": {"texts": {"type": "array"}}},
    ]
    return schema


def limit_request_schemas(spec: dict[str, Any], settings: Settings) -> None:
    """Put the service's own ``classify_request_schema`` in every JSON request body of
    ``spec`` (an OpenAPI document) that takes a ``ClassifyRequest``."""
    schema = classify_request_schema(settings)
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            media = content.get("application/json")
            if media and media.get("schema", {}).get("title") == ClassifyRequest.__name__:
                media["schema"] = schema

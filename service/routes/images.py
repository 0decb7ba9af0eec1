"""``POST /classify-image``: one image (multipart ``file`` or a raw image body) in."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from service.deps import serving, shed_if_full
from service.images import MEDIA_TYPES, MULTIPART, check_image, read_image
from service.responses import FastJSONResponse
from service.routing import route
from service.schemas import ClassifyResponse, error_responses

router = APIRouter(tags=["classify"])

_file = {"type": "string", "format": "binary", "minLength": 1}  # an empty file is no image
_binary = {"schema": _file}
REQUEST_BODY = {
    "required": True,
    "content": {
        MULTIPART: {
            "schema": {
                "type": "object",
                "properties": {"file": _file},
                "required": ["file"],
            },
            "encoding": {"file": {"contentType": ", ".join(MEDIA_TYPES)}},
        },
        **{media: _binary for media in MEDIA_TYPES},
    },
}


@router.post(
    "/classify-image",
    response_model=ClassifyResponse,
    response_model_exclude_none=True,
    responses=error_responses(404, 413, 415, 422, 503),
    openapi_extra={"requestBody": REQUEST_BODY},
    summary="Classify one image",
)
async def classify_image(
    request: Request,
    model: Annotated[
        str | None, Query(min_length=1, description="An image model's name.", examples=["image"])
    ] = None,
    top_k: Annotated[
        int | None, Query(ge=1, description="Only the k most likely labels.", examples=[3])
    ] = None,
) -> Any:
    """Label and probabilities for an uploaded PNG, JPEG, WebP, GIF or BMP image.

    Send a multipart form with a `file` part (`curl -F file=@cat.png`) or the image itself
    with its media type (`curl -H 'Content-Type: image/png' --data-binary @cat.png`). The
    image is preprocessed exactly as the engine does in training and `textcnn predict`.
    """
    settings, manager = serving(request)
    shed_if_full(request, "image")
    data = await read_image(request)
    check_image(data, settings.max_image_pixels, settings.max_image_bytes)
    loaded = route(manager, model, "image")
    (prediction,) = await loaded.predict([data])
    body = {"model": loaded.name, "version": loaded.version, "results": [prediction.to_dict(top_k)]}
    return FastJSONResponse(body)

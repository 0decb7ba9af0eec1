"""``POST /classify-image``: one image (multipart ``file`` or a raw image body) in."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.exceptions import HTTPException

from service.deps import serving, shed_if_full
from service.errors import UnsupportedMedia, invalid
from service.inputs import IMAGE
from service.openapi import error_responses
from service.responses import FastJSONResponse
from service.routing import route
from service.schemas import ClassifyResponse

router = APIRouter(tags=["classify"])

MULTIPART = "multipart/form-data"


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_image(request: Request) -> bytes:
    """The uploaded image: the ``file`` part of a multipart form, or the raw body."""
    kind = media_type(request)
    if kind == MULTIPART:
        try:
            async with request.form(max_files=1, max_fields=8) as form:
                upload = form.get("file")
                if upload is None or isinstance(upload, str):
                    raise invalid(("body", "file"), "a multipart upload needs a `file` part")
                return await upload.read()
        except HTTPException as exc:
            if exc.status_code == 400:  # Starlette's answer to a malformed multipart body
                raise invalid(("body", "file"), f"malformed multipart body: {exc.detail}") from exc
            raise
    if kind not in IMAGE.media_types:
        raise UnsupportedMedia(
            f"unsupported media type {kind or '(none)'!r}: send {', '.join(IMAGE.media_types)} "
            f"or a {MULTIPART} upload with a `file` part"
        )
    return await request.body()


@router.post(
    "/classify-image",
    response_model=ClassifyResponse,
    response_model_exclude_none=True,
    responses=error_responses(404, 413, 415, 422, 503),
    openapi_extra={"requestBody": IMAGE.request_body(MULTIPART)},
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
    shed_if_full(request, IMAGE.name)
    data = await read_image(request)
    IMAGE.check(data, settings)
    loaded = route(manager, model, IMAGE.name)
    (prediction,) = await loaded.predict([data])
    body = {"model": loaded.name, "version": loaded.version, "results": [prediction.to_dict(top_k)]}
    return FastJSONResponse(body)

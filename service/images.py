"""Image uploads: read the body, check type and size from the header, never decode a bomb."""

from __future__ import annotations

import io
import warnings

from fastapi import Request
from PIL import Image
from starlette.exceptions import HTTPException

from service.errors import PayloadTooLarge, UnsupportedMedia, invalid
from textcnn.modalities.image import MEDIA_TYPES

# and MPO: the multi-picture JPEGs of many phone and HDR cameras, whose first frame is
# decoded, as in training.
FORMATS = frozenset(MEDIA_TYPES.values()) | {"MPO"}
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
    if kind not in MEDIA_TYPES:
        raise UnsupportedMedia(
            f"unsupported media type {kind or '(none)'!r}: send {', '.join(MEDIA_TYPES)} "
            f"or a {MULTIPART} upload with a `file` part"
        )
    return await request.body()


def check_image(data: bytes, max_pixels: int, max_bytes: int) -> None:
    """Identify the image from its header alone; 415 if it is not one, 413 if it has too many
    bytes (the body limit allows for multipart overhead) or too many pixels."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"image is {len(data)} bytes; the limit is {max_bytes}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge(f"image has too many pixels (limit {max_pixels})") from exc
    except Exception as exc:  # whatever Pillow raises on a file it cannot identify
        raise UnsupportedMedia(
            f"not a decodable image ({', '.join(MEDIA_TYPES)} accepted)"
        ) from exc
    with image:
        if image.format not in FORMATS:
            raise UnsupportedMedia(
                f"unsupported image format {image.format}: send {', '.join(sorted(FORMATS))}"
            )
        width, height = image.size
        if width * height > max_pixels:
            raise PayloadTooLarge(
                f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}"
            )

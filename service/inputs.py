"""What the service takes in, one class per input type (a modality's ``input_type``): the
checks, the limits /models shows, the OpenAPI schema and, for files, the media types.

/classify, /classify-image, the v2 protocol's ``infer`` and /models all read them here, so a
rule is written once and a route never asks which input type it holds.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from PIL import Image

from service.errors import PayloadTooLarge, UnsupportedMedia
from service.settings import Settings

if TYPE_CHECKING:
    from textcnn.modalities import Modality


class InputRejected(ValueError):
    """An input over a limit or malformed; ``index`` is its place in the request (``None``:
    the request as a whole). Each route answers it in its own protocol (422 or 400)."""

    def __init__(self, message: str, index: int | None = None, kind: str = "value_error") -> None:
        super().__init__(message)
        self.index = index
        self.kind = kind  # pydantic's error type: ``too_long`` past a limit


class InputType(ABC):
    """One kind of input the service receives."""

    name: ClassVar[str]  # the modality's ``input_type``, and the v2 protocol's input tensor

    @abstractmethod
    def limits(self, settings: Settings) -> dict[str, Any]:
        """The input limits of ``settings`` that apply, as /models shows them."""

    def max_inputs(self, settings: Settings) -> int:
        """The most inputs in one request (of /classify; the v2 protocol's for images too,
        while /classify-image takes one)."""
        return settings.max_batch_texts

    @abstractmethod
    def from_element(self, element: str | bytes) -> Any:
        """An input from a v2 ``BYTES`` element (``bytes`` from binary data, ``str`` from
        JSON); ``InputRejected`` if it cannot be one."""

    @abstractmethod
    def check(self, item: Any, settings: Settings) -> None:
        """Raise if the service does not take ``item``: ``InputRejected``, or for a file an
        ``errors.ServiceError`` with its own status (413, 415)."""

    def checked(self, items: Sequence[Any], settings: Settings) -> list[Any]:
        """``items`` if the service takes them all, in number and one by one."""
        most = self.max_inputs(settings)
        if not items:
            raise InputRejected(f"no {self.name}s; 1 to {most} per request")
        if len(items) > most:
            raise InputRejected(
                f"{len(items)} {self.name}s; at most {most} per request", kind="too_long"
            )
        for i, item in enumerate(items):
            try:
                self.check(item, settings)
            except InputRejected as exc:
                raise InputRejected(str(exc), i, exc.kind) from None
        return list(items)


class TextInput(InputType):
    """Texts: not blank, at most ``max_text_chars`` characters, ``max_batch_texts`` a request."""

    name = "text"  # in a JSON body (``schemas.ClassifyRequest``, the v2 request)

    def limits(self, settings: Settings) -> dict[str, Any]:
        return {
            "max_texts": settings.max_batch_texts,
            "max_text_chars": settings.max_text_chars,
            "max_body_bytes": settings.max_body_bytes,
        }

    def from_element(self, element: str | bytes) -> str:
        if isinstance(element, str):
            return element
        try:
            return element.decode("utf-8")
        except UnicodeDecodeError:
            raise InputRejected("a text element is not UTF-8") from None

    def check(self, item: str, settings: Settings) -> None:
        not_blank(item)
        if len(item) > settings.max_text_chars:
            raise InputRejected(
                f"text is longer than {settings.max_text_chars} characters", kind="too_long"
            )

    def schema(self, settings: Settings) -> dict[str, Any]:
        """One text's JSON schema as ``check`` applies it."""
        return {
            "type": "string",
            "minLength": 1,
            "maxLength": settings.max_text_chars,
            "pattern": r"\S",
        }


def not_blank(text: str) -> str:
    """``text``, unless it is empty or whitespace only (pydantic runs it while parsing)."""
    if not text.strip():
        raise InputRejected("text is empty or whitespace only")
    return text


class ImageInput(InputType):
    """Encoded image files, identified from their header alone: never a decompression bomb."""

    name = "image"
    # the uploads accepted, by media type, and the Pillow format each must decode as
    FORMAT_OF: ClassVar[dict[str, str]] = {
        "image/png": "PNG",
        "image/jpeg": "JPEG",
        "image/webp": "WEBP",
        "image/gif": "GIF",
        "image/bmp": "BMP",
    }
    media_types: ClassVar[tuple[str, ...]] = tuple(FORMAT_OF)
    # and MPO: the multi-picture JPEGs of many phone and HDR cameras, whose first frame is
    # decoded, as in training
    FORMATS: ClassVar[frozenset[str]] = frozenset(FORMAT_OF.values()) | {"MPO"}

    def limits(self, settings: Settings) -> dict[str, Any]:
        return {
            "max_image_bytes": settings.max_image_bytes,
            "max_image_pixels": settings.max_image_pixels,
            "media_types": sorted(self.media_types),
        }

    def from_element(self, element: str | bytes) -> bytes:
        """An encoded file: raw bytes from binary data, base64 in JSON."""
        if isinstance(element, bytes):
            return element
        try:
            return base64.b64decode(element, validate=True)
        except (binascii.Error, ValueError):
            raise InputRejected("an element in JSON must be base64") from None

    def check(self, item: bytes, settings: Settings) -> None:
        """415 if it is not an image, 413 if it has too many bytes (the body limit allows for
        multipart overhead) or too many pixels."""
        max_bytes, max_pixels = settings.max_image_bytes, settings.max_image_pixels
        if len(item) > max_bytes:
            raise PayloadTooLarge(f"image is {len(item)} bytes; the limit is {max_bytes}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(item))
        except Image.DecompressionBombError as exc:
            raise PayloadTooLarge(f"image has too many pixels (limit {max_pixels})") from exc
        except Exception as exc:  # whatever Pillow raises on a file it cannot identify
            raise UnsupportedMedia(
                f"not a decodable image ({', '.join(self.media_types)} accepted)"
            ) from exc
        with image:
            if image.format not in self.FORMATS:
                raise UnsupportedMedia(
                    f"unsupported image format {image.format}: "
                    f"send {', '.join(sorted(self.FORMATS))}"
                )
            width, height = image.size
            if width * height > max_pixels:
                raise PayloadTooLarge(
                    f"image is {width}x{height} = {width * height} pixels; "
                    f"the limit is {max_pixels}"
                )

    def request_body(self, multipart: str) -> dict[str, Any]:
        """The OpenAPI ``requestBody`` of one uploaded file: a ``multipart`` form's ``file``
        part, or the file itself with its media type."""
        file = {"type": "string", "format": "binary", "minLength": 1}  # an empty file is none
        return {
            "required": True,
            "content": {
                multipart: {
                    "schema": {
                        "type": "object",
                        "properties": {"file": file},
                        "required": ["file"],
                    },
                    "encoding": {"file": {"contentType": ", ".join(self.media_types)}},
                },
                **{media: {"schema": file} for media in self.media_types},
            },
        }


TEXT, IMAGE = TextInput(), ImageInput()
INPUT_TYPES: dict[str, InputType] = {kind.name: kind for kind in (TEXT, IMAGE)}


def input_type(name: str) -> InputType:
    """The input type a modality's ``input_type`` names."""
    return INPUT_TYPES[name]


def model_limits(modality: Modality, processor: Any, settings: Settings) -> dict[str, Any]:
    """A served model's input limits, as /models shows them: the service's for its input
    type and what its processor takes of an input."""
    return {**input_type(modality.input_type).limits(settings), **modality.limits(processor)}

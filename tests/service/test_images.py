"""``POST /classify-image``: uploads, raw bodies, the engine's preprocessing, bad images."""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from service.main import create_app
from service.settings import Settings
from tests.service.conftest import colour_image, encode_image
from textcnn.engine.bundle import Bundle
from textcnn.engine.predictor import Predictor
from textcnn.store import LocalStore


@pytest.fixture
def image_client(
    registry_root: Path, image_bundle: Bundle, make_settings: Callable[..., Settings]
) -> Iterator[TestClient]:
    LocalStore(registry_root).publish("image", image_bundle)
    with TestClient(create_app(make_settings(max_image_pixels=64 * 64))) as client:
        yield client


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` pixels: a decompression bomb's shape."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0"))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP"])
def test_raw_body_matches_the_engine(
    image_client: TestClient, image_bundle: Bundle, fmt: str
) -> None:
    data = encode_image(colour_image("blue", random.Random(fmt)), fmt)
    r = image_client.post(
        "/classify-image", content=data, headers={"content-type": f"image/{fmt.lower()}"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["model"], body["version"]) == ("image", "v1")
    (result,) = body["results"]
    (expected,) = Predictor(image_bundle).predict([data])
    assert result["label"] == expected.label == "blue"
    assert [s["label"] for s in result["scores"]] == [label for label, _ in expected.scores]
    for got, (_, want) in zip(result["scores"], expected.scores, strict=True):
        assert got["score"] == pytest.approx(want, abs=1e-6)


def test_multipart_upload_with_top_k(image_client: TestClient) -> None:
    data = encode_image(colour_image("red", random.Random(1)))
    r = image_client.post("/classify-image?top_k=2", files={"file": ("red.png", data, "image/png")})
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    assert result["label"] == "red"
    assert len(result["scores"]) == 2


def test_an_image_model_by_name(image_client: TestClient) -> None:
    data = encode_image(colour_image("green", random.Random(2)))
    headers = {"content-type": "image/png"}
    r = image_client.post("/classify-image?model=image", content=data, headers=headers)
    assert r.status_code == 200
    r = image_client.post("/classify-image?model=nope", content=data, headers=headers)
    assert r.status_code == 404
    r = image_client.post("/classify-image?model=text", content=data, headers=headers)
    assert r.status_code == 404
    assert "text model" in r.json()["detail"]


def test_unsupported_media_type_is_a_415(image_client: TestClient) -> None:
    for kind in ["text/plain", "application/json", "image/tiff", ""]:
        headers = {"content-type": kind} if kind else {}
        r = image_client.post("/classify-image", content=b"x" * 10, headers=headers)
        assert r.status_code == 415, kind
        assert "image/png" in r.json()["detail"]


def test_undecodable_images_are_a_415(image_client: TestClient) -> None:
    png = encode_image(colour_image("red", random.Random(3)))
    tiff = encode_image(colour_image("red", random.Random(3)), "TIFF")
    for data in [b"", b"not an image at all", png[:60], tiff]:
        r = image_client.post(
            "/classify-image", content=data, headers={"content-type": "image/png"}
        )
        assert r.status_code == 415, data[:20]
    r = image_client.post("/classify-image", files={"file": ("x.png", b"garbage", "image/png")})
    assert r.status_code == 415


def test_too_many_pixels_is_a_413_without_decoding(image_client: TestClient) -> None:
    for width, height in [(65, 64), (100_000, 100_000), (2**31 - 1, 2**31 - 1)]:
        r = image_client.post(
            "/classify-image",
            content=png_header_only(width, height),
            headers={"content-type": "image/png"},
        )
        assert r.status_code == 413, (width, height)
    ok = encode_image(colour_image("red", random.Random(4)).resize((64, 64)))
    r = image_client.post("/classify-image", content=ok, headers={"content-type": "image/png"})
    assert r.status_code == 200


def test_upload_over_the_byte_limit_is_a_413(
    registry_root: Path, image_bundle: Bundle, make_settings: Callable[..., Settings]
) -> None:
    LocalStore(registry_root).publish("image", image_bundle)
    with TestClient(create_app(make_settings(max_image_bytes=4096))) as client:
        big = b"\x89PNG" + b"\0" * 200_000
        r = client.post("/classify-image", content=big, headers={"content-type": "image/png"})
        assert r.status_code == 413
        r = client.post("/classify-image", files={"file": ("big.png", big, "image/png")})
        assert r.status_code == 413
        just_over = b"\x89PNG" + b"\0" * 4093  # within the body's multipart allowance
        r = client.post("/classify-image", content=just_over, headers={"content-type": "image/png"})
        assert r.status_code == 413 and "4097 bytes; the limit is 4096" in r.json()["detail"]


def test_malformed_multipart_is_a_422(image_client: TestClient) -> None:
    r = image_client.post("/classify-image", data={"other": "x"}, files={"f": ("a", b"a")})
    assert r.status_code == 422
    assert "file" in r.json()["message"]
    r = image_client.post(
        "/classify-image",
        content=b"--b\r\nnonsense",
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert r.status_code == 422 and "file" in r.json()["message"]


def test_no_image_model_is_a_503(client: TestClient) -> None:
    data = encode_image(colour_image("red", random.Random(5)))
    r = client.post("/classify-image", content=data, headers={"content-type": "image/png"})
    assert r.status_code == 503
    assert "image" in r.json()["detail"]


def test_a_multi_picture_jpeg_is_classified_by_its_first_frame(
    image_client: TestClient, image_bundle: Bundle
) -> None:
    rng = random.Random(7)
    first, second = colour_image("green", rng), colour_image("red", rng)
    buffer = io.BytesIO()
    first.save(buffer, format="MPO", save_all=True, append_images=[second])
    data = buffer.getvalue()
    with Image.open(io.BytesIO(data)) as probe:
        assert (probe.format, probe.n_frames) == ("MPO", 2)  # what phones send
    r = image_client.post("/classify-image", content=data, headers={"content-type": "image/jpeg"})
    assert r.status_code == 200, r.text
    (expected,) = Predictor(image_bundle).predict([encode_image(first, "JPEG")])
    assert r.json()["results"][0]["label"] == expected.label == "green"

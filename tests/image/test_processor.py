import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from textcnn.errors import DataError
from textcnn.image.processor import ImageProcessor, channel_stats

RNG = np.random.default_rng(0)
RGB = Image.fromarray(RNG.integers(0, 256, (24, 40, 3), dtype=np.uint8))


def in_mode(mode: str) -> Image.Image:
    if mode == "I;16":
        return Image.fromarray(RNG.integers(0, 65536, (24, 40), dtype=np.uint16))
    if mode == "P":
        return RGB.convert("P", palette=Image.Palette.ADAPTIVE)
    return RGB.convert(mode)


@pytest.mark.parametrize(
    "mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "1", "I", "F", "RGB", "PA", "YCbCr"]
)
def test_every_mode_preprocesses_to_the_same_shape_and_dtype(mode: str) -> None:
    image = in_mode(mode)
    assert image.mode == mode
    processor = ImageProcessor(size=32)
    pixels = processor.pixels([image])
    assert pixels.shape == (1, 3, 32, 32) and pixels.dtype == torch.uint8
    x = processor.encode([image])
    assert x.shape == (1, 3, 32, 32) and x.dtype == torch.float32


def test_wide_and_transparent_modes_keep_their_brightness() -> None:
    processor = ImageProcessor(size=8)
    white16 = Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16))
    transparent = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    half = Image.new("LA", (8, 8), (0, 128))
    pixels = processor.pixels([white16, transparent, half])
    assert pixels[0].eq(255).all()
    assert pixels[1].eq(255).all()  # composited onto white
    assert pixels[2].sub(127).abs().le(1).all()


def test_paths_bytes_images_and_decoded_tensors_encode_identically(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    RGB.save(path)
    decoded = torch.from_numpy(np.array(RGB)).permute(2, 0, 1)
    processor = ImageProcessor(size=16)
    encodings = [
        processor.encode([item]) for item in (path, str(path), path.read_bytes(), RGB, decoded)
    ]
    for other in encodings[1:]:
        assert torch.equal(encodings[0], other)


def test_resize_then_centre_crop() -> None:
    image = np.zeros((40, 80, 3), dtype=np.uint8)
    image[:] = (200, 0, 0)
    image[:, :12] = (0, 255, 0)  # outside the centre square (and the filter's reach)
    image[:, -12:] = (0, 255, 0)
    pixels = ImageProcessor(size=20).pixels([Image.fromarray(image)])
    assert pixels.shape == (1, 3, 20, 20)
    assert pixels[0, 1].max() < 10 and pixels[0, 0].min() > 190


def test_normalisation_uses_the_stored_statistics() -> None:
    pixels = torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8)
    mean, std = channel_stats(pixels)
    x = ImageProcessor(8, mean, std).normalize(pixels)
    assert x.mean(dim=(0, 2, 3)).abs().max() < 1e-3
    assert (x.std(dim=(0, 2, 3)) - 1).abs().max() < 1e-2


def test_config_round_trip() -> None:
    processor = ImageProcessor(24, (0.1, 0.2, 0.3), (0.4, 0.5, 0.6), flip_tta=True)
    assert processor.save(Path("unused")) == []
    config = processor.to_config()
    assert config["modality"] == "image"
    assert ImageProcessor.load(Path("unused"), config) == processor


@pytest.mark.parametrize("data", [b"not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 30])
def test_unreadable_input_is_a_data_error(data: bytes, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a readable image"):
        ImageProcessor().encode([data])
    path = tmp_path / "broken.jpg"
    path.write_bytes(data)
    with pytest.raises(DataError, match="broken.jpg"):
        ImageProcessor().encode([path])


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_input_is_a_data_error(fmt: str) -> None:
    buffer = io.BytesIO()
    RGB.save(buffer, fmt)
    with pytest.raises(DataError, match="(?i)truncated"):
        ImageProcessor().encode([buffer.getvalue()[:1000]])

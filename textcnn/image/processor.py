"""Images to normalised pixel tensors: the one preprocessing path of training, evaluation,
``textcnn predict`` and the REST service.

Every input (a PIL image, encoded bytes, a path, or an already decoded RGB ``uint8`` tensor
``[3, H, W]``) goes through the same steps: decode, EXIF orientation, any mode to RGB
(transparency composited onto white; 16-bit and integer modes scaled from the 16-bit range),
resize so the shorter side is ``size`` and centre-crop to ``size x size`` (one bicubic
resampling), then normalise each channel with the training set's mean and std.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from textcnn.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
WIDE_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")
ImageInput = Image.Image | bytes | bytearray | str | os.PathLike | torch.Tensor


def open_image(item: Image.Image | bytes | bytearray | str | os.PathLike) -> Image.Image:
    """Decode ``item`` fully; a corrupt, truncated or non-image input is a ``DataError``."""
    if isinstance(item, Image.Image):
        return item
    if isinstance(item, bytes | bytearray | memoryview):
        source, name = io.BytesIO(item), "<image bytes>"
    elif isinstance(item, str | os.PathLike):
        source = name = os.fspath(item)
    else:
        raise TypeError(f"expected an image, bytes or a path, not {type(item).__name__}")
    try:
        image = Image.open(source)
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise DataError(name, f"not a readable image ({exc})") from None
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB, upright according to its EXIF orientation."""
    image = ImageOps.exif_transpose(image)
    if image.mode == "RGB":
        return image
    if image.mode in WIDE_MODES:
        values = np.asarray(image, dtype=np.float32)
        if image.mode != "F":
            values = values / 257.0
        gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if "A" in image.mode or "a" in image.mode:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def decode(item: Image.Image | bytes | bytearray | str | os.PathLike) -> torch.Tensor:
    """Decoded RGB pixels at the image's own size, ``uint8 [3, H, W]``."""
    return pil_to_tensor(to_rgb(open_image(item)))


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def square(image: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to ``size`` and centre-crop, in one resampling."""
    width, height = image.size
    if (width, height) == (size, size):
        return image
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    box = (left, top, left + side, top + side)
    return image.resize((size, size), Image.Resampling.BICUBIC, box=box)


def channel_stats(pixels: torch.Tensor, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and std, on the 0-1 scale, of ``uint8 [N, 3, H, W]`` pixels."""
    total = torch.zeros(3, dtype=torch.float64)
    squares = torch.zeros(3, dtype=torch.float64)
    for start in range(0, len(pixels), chunk):
        part = pixels[start : start + chunk].to(torch.float64) / 255
        total += part.sum(dim=(0, 2, 3))
        squares += part.square().sum(dim=(0, 2, 3))
    count = pixels.numel() / 3
    mean = total / count
    std = (squares / count - mean.square()).clamp(min=1e-6).sqrt()
    return [round(v, 6) for v in mean.tolist()], [round(v, 6) for v in std.tolist()]


@dataclass
class ImageProcessor:
    """Geometry and normalisation a bundle carries: ``size`` and the training statistics.

    ``flip_tta`` asks predictors to average the logits of each image and its mirror image.
    """

    size: int = 32
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.25, 0.25, 0.25)
    flip_tta: bool = False
    _scales: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    modality = "image"

    def __post_init__(self) -> None:
        self.mean, self.std = tuple(self.mean), tuple(self.std)
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("mean and std need 3 values each, std positive")

    def pixels(self, items: Sequence[ImageInput] | torch.Tensor) -> torch.Tensor:
        """RGB ``uint8 [N, 3, size, size]``: decoded, made RGB, resized and cropped."""
        if isinstance(items, torch.Tensor) and tuple(items.shape[1:]) == (3, self.size, self.size):
            return items
        out = torch.empty(len(items), 3, self.size, self.size, dtype=torch.uint8)
        for row, item in enumerate(items):
            if isinstance(item, torch.Tensor):
                if tuple(item.shape) == (3, self.size, self.size):
                    out[row] = item
                    continue
                item = Image.fromarray(item.permute(1, 2, 0).contiguous().numpy())
            out[row] = pil_to_tensor(square(to_rgb(open_image(item)), self.size))
        return out

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """``uint8 [N, 3, H, W]`` to float32 ``(x / 255 - mean) / std``, on ``pixels``' device.

        The constants are made once per device: a training step sends nothing to the GPU.
        """
        if pixels.device not in self._scales:
            mean = torch.tensor(self.mean).view(1, 3, 1, 1) * 255
            std = torch.tensor(self.std).view(1, 3, 1, 1) * 255
            self._scales[pixels.device] = (mean.to(pixels.device), std.to(pixels.device))
        mean, std = self._scales[pixels.device]
        return (pixels.float() - mean) / std

    def encode(self, items: Sequence[ImageInput] | torch.Tensor) -> torch.Tensor:
        """Model inputs ``float32 [N, 3, size, size]``."""
        return self.normalize(self.pixels(items))

    def to_config(self) -> dict[str, Any]:
        return {
            "modality": self.modality,
            "size": self.size,
            "mean": list(self.mean),
            "std": list(self.std),
            "flip_tta": self.flip_tta,
        }

    def save(self, directory: Path) -> list[str]:
        return []

    @classmethod
    def load(cls, directory: Path, config: dict[str, Any]) -> ImageProcessor:
        return cls(config["size"], config["mean"], config["std"], config.get("flip_tta", False))

"""Batch augmentation with tensor operations on the training device (no torchvision).

``ImageTransform`` is the trainer's ``BatchTransform`` for images: batches stay ``uint8`` on
the device until a step needs them, then are normalised by the bundle's processor and, in
training, randomly cropped from a reflection-padded copy, mirrored and cut out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from textcnn.image.processor import ImageProcessor


def random_crop(x: torch.Tensor, padding: int) -> torch.Tensor:
    """Each image shifted by up to ``padding`` pixels, borders reflected (``[N, C, H, W]``)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (padding,) * 4, mode="reflect").permute(0, 2, 3, 1)
    dy = torch.randint(0, 2 * padding + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(0, 2 * padding + 1, (n, 1, 1), device=x.device)
    rows = dy + torch.arange(h, device=x.device).view(1, h, 1)
    cols = dx + torch.arange(w, device=x.device).view(1, 1, w)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded[batch, rows, cols].permute(0, 3, 1, 2)


def random_flip(x: torch.Tensor) -> torch.Tensor:
    """Each image mirrored left-right with probability 1/2."""
    flip = torch.rand(len(x), 1, 1, 1, device=x.device) < 0.5
    return torch.where(flip, x.flip(-1), x)


def cutout(x: torch.Tensor, size: int) -> torch.Tensor:
    """Zero (the mean, after normalisation) a ``size``-square at a random centre of each image;
    squares may be clipped by the border (DeVries & Taylor 2017)."""
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n, 1), device=x.device) - size // 2
    cx = torch.randint(0, w, (n, 1), device=x.device) - size // 2
    ys, xs = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    in_rows = (ys >= cy) & (ys < cy + size)
    in_cols = (xs >= cx) & (xs < cx + size)
    return x.masked_fill(in_rows[:, None, :, None] & in_cols[:, None, None, :], 0.0)


class ImageTransform:
    """Normalise (eval), or normalise and augment (train), ``uint8`` batches on their device."""

    def __init__(
        self,
        processor: ImageProcessor,
        crop_padding: int = 4,
        flip: bool = True,
        cutout: int = 0,
        channels_last: bool = False,
    ) -> None:
        self.processor = processor
        self.crop_padding = crop_padding
        self.flip = flip
        self.cutout = cutout
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def eval(self, x: torch.Tensor) -> torch.Tensor:
        return self.processor.normalize(x).contiguous(memory_format=self.memory_format)

    def train(self, x: torch.Tensor) -> torch.Tensor:
        x = self.processor.normalize(x)
        if self.crop_padding:
            x = random_crop(x, self.crop_padding)
        if self.flip:
            x = random_flip(x)
        if self.cutout:
            x = cutout(x, self.cutout)
        return x.contiguous(memory_format=self.memory_format)

"""The forward pass every prediction shares, in training's evaluation and in serving."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

TTA_LEVELS = (0, 1, 2)


def _mirrored(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return (model(x).float() + model(x.flip(-1)).float()) / 2


def forward_logits(model: nn.Module, x: torch.Tensor, tta: int = 0) -> torch.Tensor:
    """Float32 logits of images ``x`` (or any input, at level 0) with test-time augmentation.

    ``tta`` (``True`` is 1): 0 none; 1 the mean over ``x`` and its mirror image; 2 (airbench's)
    half that, plus half the mean of the same over ``x`` shifted one pixel up-left and
    down-right (borders reflected): six views.
    """
    if tta not in TTA_LEVELS:
        raise ValueError(f"tta must be one of {TTA_LEVELS}, not {tta!r}")
    if not tta:
        return model(x).float()
    logits = _mirrored(model, x)
    if tta == 2:
        h, w = x.shape[-2:]
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        shifted = [padded[..., :h, :w], padded[..., 2:, 2:]]
        logits = (logits + sum(_mirrored(model, s) for s in shifted) / 2) / 2
    return logits

"""The forward pass every prediction shares, in training's evaluation and in serving."""

from __future__ import annotations

import torch
from torch import nn


def forward_logits(model: nn.Module, x: torch.Tensor, flip_tta: bool = False) -> torch.Tensor:
    """Float32 logits; with ``flip_tta``, the mean of those for ``x`` and its mirror image."""
    logits = model(x).float()
    if flip_tta:
        logits = (logits + model(x.flip(-1)).float()) / 2
    return logits

"""Building blocks shared by every architecture: convolution banks, pooling and the head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBank1d(nn.Module):
    """Kim's bank of 1-d convolutions of several widths, ReLU, then 1-max pooling over time.

    Each width is zero-padded by ``width - 1`` on both sides so that any input, even a single
    token, yields outputs. Windows lying wholly inside trailing padding are masked out before
    pooling, so extra padding never changes the result.
    """

    def __init__(self, in_channels: int, widths: tuple[int, ...], maps: int) -> None:
        super().__init__()
        self.widths = tuple(widths)
        self.convs = nn.ModuleList(
            nn.Conv1d(in_channels, maps, w, padding=w - 1) for w in self.widths
        )
        self.out_features = maps * len(self.widths)

    def feature_maps(self, x: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """Masked ReLU maps ``[B, maps, T_w]`` per width, for ``x`` of shape ``[B, C, T]``."""
        maps = []
        for width, conv in zip(self.widths, self.convs, strict=True):
            h = F.relu(conv(x))
            positions = torch.arange(h.shape[-1], device=h.device)
            valid = positions[None, :] <= (lengths[:, None] + width - 2)
            maps.append(h.masked_fill(~valid[:, None, :], float("-inf")))
        return maps

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return torch.cat([h.amax(dim=-1) for h in self.feature_maps(x, lengths)], dim=1)


class ConvBNAct(nn.Sequential):
    """2-d convolution, batch norm and activation: the unit every image architecture stacks."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        act: bool = True,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ClassifierHead(nn.Module):
    """Dropout then a linear layer whose weight rows are kept within an L2 max-norm."""

    def __init__(
        self, in_features: int, num_classes: int, dropout: float, max_norm: float | None
    ) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_features, num_classes)
        self.max_norm = max_norm

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(features))

    @torch.no_grad()
    def apply_max_norm(self) -> None:
        """Rescale every class's weight row whose L2 norm exceeds ``max_norm`` (Kim 2014)."""
        if self.max_norm is not None:
            self.linear.weight.copy_(
                torch.renorm(self.linear.weight, p=2, dim=0, maxnorm=self.max_norm)
            )


class Classifier(nn.Module):
    """Any input encoder followed by the shared classifier head."""

    def __init__(self, encoder: nn.Module, head: ClassifierHead) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))

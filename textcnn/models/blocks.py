"""Building blocks shared by every architecture: convolution banks, pooling and the head."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def eager_cpu(x: torch.Tensor) -> bool:
    """Whether ``x`` is on the CPU outside ``torch.compile``: there a value-dependent shortcut
    (``int(x.max())``) costs nothing, while on a GPU it waits for the device and in a compiled
    graph it breaks the graph, so there the shortcut's general path runs instead."""
    return x.device.type == "cpu" and not torch.compiler.is_compiling()


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
        return [
            F.relu(conv(x)) + padding_bias(lengths, width, x.shape[-1] + width - 1, x.dtype)
            for width, conv in zip(self.widths, self.convs, strict=True)
        ]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Pooled features ``[B, maps*widths]``; the same values as pooling ``feature_maps``.

        ReLU commutes with max pooling, so it runs on the pooled features; masking adds a
        ``0``/``-inf`` bias to the pre-activation maps (skipped, on the eager CPU path, when no
        row is shorter than ``T``: the bias would be all zeros).
        """
        x = x.contiguous()
        masked = not eager_cpu(x) or bool((lengths < x.shape[-1]).any())
        pooled = []
        for width, conv in zip(self.widths, self.convs, strict=True):
            h = conv(x)
            if masked:
                h = h + padding_bias(lengths, width, h.shape[-1], h.dtype)
            pooled.append(h.amax(dim=-1))
        return F.relu(torch.cat(pooled, dim=1))


class MatmulConvBank1d(nn.Module):
    """A ``ConvBank1d``'s outputs from one matrix product: each input window of the widest
    width, unfolded, times every filter (narrower ones zero on the taps they lack).

    Why: ONNX Runtime's int8 matrix multiply (dynamic quantization) runs this bank 1.5-2.7x
    faster than float32 on a CPU with VNNI, where its int8 convolution is slower than float32.
    In float32 the two forms agree to rounding. Built from a trained bank, for export only.
    """

    def __init__(self, bank: ConvBank1d) -> None:
        super().__init__()
        self.widths = bank.widths
        self.span = max(self.widths)
        convs = list(bank.convs)
        channels, maps = convs[0].in_channels, convs[0].out_channels
        weight = torch.zeros(self.span, channels, maps * len(convs))
        for g, conv in enumerate(convs):
            w = conv.kernel_size[0]
            for tap in range(w):  # a width-w window ends where the widest one ends
                weight[self.span - w + tap, :, g * maps : (g + 1) * maps] = conv.weight[:, :, tap].T
        self.register_buffer("weight", weight.reshape(self.span * channels, -1).detach())
        self.register_buffer("bias", torch.cat([c.bias for c in convs]).detach())

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, C, T]`` to ``[B, maps*widths]``, as ``ConvBank1d.forward``."""
        k = self.span
        padded = F.pad(x.transpose(1, 2), (0, 0, k - 1, k - 1))  # [B, T + 2k - 2, C]
        steps = x.shape[-1] + k - 1
        windows = torch.cat([padded[:, tap : tap + steps] for tap in range(k)], dim=2)
        return pool_windows(windows @ self.weight, lengths, self.widths, self.bias)


def pool_windows(
    h: torch.Tensor, lengths: torch.Tensor, widths: tuple[int, ...], bias: torch.Tensor
) -> torch.Tensor:
    """``ConvBank1d``'s pooled features from its pre-activations ``h`` ``[B, steps, widths*maps]``
    without bias, one step per window of the widest width (``MatmulConvBank1d``'s layout)."""
    steps = h.shape[1]
    h = h.unflatten(2, (len(widths), -1))
    # [B, steps, widths]: a bias per window and width, broadcast over that width's maps
    mask = [padding_bias(lengths, w, steps, h.dtype).transpose(1, 2) for w in widths]
    pooled = (h + torch.cat(mask, dim=2).unsqueeze(-1)).amax(dim=1)  # [B, widths, maps]
    return F.relu(pooled.flatten(1) + bias)


def padding_bias(lengths: torch.Tensor, width: int, steps: int, dtype: torch.dtype) -> torch.Tensor:
    """``[B, 1, steps]``: 0 for windows that touch one of the row's ``lengths`` real tokens,
    ``-inf`` for windows wholly inside trailing padding (a width-``w`` convolution padded by
    ``w - 1`` has ``length + w - 1`` valid outputs)."""
    positions = torch.arange(steps, device=lengths.device)
    invalid = positions[None, None, :] > (lengths[:, None, None] + width - 2)
    bias = torch.zeros(invalid.shape, dtype=dtype, device=lengths.device)
    return bias.masked_fill_(invalid, float("-inf"))


class ConvBNAct(nn.Sequential):
    """2-d convolution, batch norm and activation: the unit every image architecture stacks."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        act: bool = True,
        padding: int | None = None,
    ) -> None:
        padding = kernel_size // 2 if padding is None else padding
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ConvAct(nn.Sequential):
    """2-d convolution (with bias) and ReLU, then optionally local response normalisation:
    the unit of the networks before batch norm (Krizhevsky et al. 2012 normalise after the
    ReLU, across ``lrn_size`` neighbouring maps, with k=2, alpha=1e-4, beta=0.75)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        lrn: bool = False,
        lrn_size: int = 5,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
            nn.ReLU(inplace=True),
        ]
        if lrn:
            # torch divides alpha by the window; the paper's alpha multiplies the plain sum.
            layers.append(nn.LocalResponseNorm(lrn_size, alpha=1e-4 * lrn_size, beta=0.75, k=2.0))
        super().__init__(*layers)


class PatchWhitening(nn.Conv2d):
    """Airbench's first layer: a frozen ``k x k`` convolution whose filters are the principal
    axes of the training images' ``k x k`` patches scaled to unit variance, and their
    negatives (``2 * C * k * k`` maps, so that a following GELU keeps both signs). The next
    layers then see decorrelated input from the first step. Only the bias trains.

    ``fit`` sets the filters from (normalised) training images; until then they are random.
    """

    def __init__(self, in_channels: int = 3, kernel_size: int = 2, eps: float = 5e-4) -> None:
        super().__init__(in_channels, 2 * in_channels * kernel_size**2, kernel_size, bias=True)
        self.weight.requires_grad_(False)
        nn.init.zeros_(self.bias)
        self.eps = eps

    @torch.no_grad()
    def fit(self, images: torch.Tensor, chunk: int = 512) -> None:
        """Whiten ``images`` ``[N, C, H, W]``: eigendecompose their patches' (uncentred)
        covariance, accumulated in float64 a chunk of images at a time."""
        k = self.kernel_size[0]
        dim = self.in_channels * k * k
        covariance = torch.zeros(dim, dim, dtype=torch.float64, device=images.device)
        count = 0
        for start in range(0, len(images), chunk):
            patches = F.unfold(images[start : start + chunk].double(), k)  # [n, C*k*k, L]
            patches = patches.transpose(1, 2).reshape(-1, dim)
            covariance += patches.T @ patches
            count += len(patches)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance / max(count, 1))
        # Largest variance first; each row of ``filters`` is one scaled principal axis.
        filters = eigenvectors.T.flip(0) / (eigenvalues.flip(0)[:, None] + self.eps).sqrt()
        weight = torch.cat([filters, -filters]).view_as(self.weight)
        self.weight.copy_(weight.to(self.weight.dtype))


def whitening_layers(model: nn.Module) -> list[PatchWhitening]:
    """The ``PatchWhitening`` layers of ``model``: the ones to ``fit`` before training."""
    return [m for m in model.modules() if isinstance(m, PatchWhitening)]


def shift_batch_norm(channels: int, momentum: float = 0.4, eps: float = 1e-12) -> nn.BatchNorm2d:
    """Batch norm that learns only its shift (the scale stays 1), as airbench uses it; torch's
    ``momentum`` is the weight of each new batch in the running statistics."""
    norm = nn.BatchNorm2d(channels, eps=eps, momentum=momentum)
    norm.weight.requires_grad_(False)
    return norm


class ConvPoolGroup(nn.Sequential):
    """Airbench's group: a 3x3 convolution, a 2x2 max pool, shift-only batch norm and GELU,
    then a second 3x3 convolution, batch norm and GELU. The first ``in`` filters of each
    convolution start as the identity (Dirac) and the rest at random."""

    def __init__(self, in_channels: int, out_channels: int, bn_momentum: float = 0.4) -> None:
        first = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        second = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        for conv in (first, second):
            nn.init.dirac_(conv.weight[: min(conv.in_channels, conv.out_channels)])
        super().__init__(
            first,
            nn.MaxPool2d(2),
            shift_batch_norm(out_channels, bn_momentum),
            nn.GELU(),
            second,
            shift_batch_norm(out_channels, bn_momentum),
            nn.GELU(),
        )


class BasicBlock(nn.Module):
    """He et al.'s residual block: two 3x3 ``ConvBNAct`` plus a shortcut, then ReLU.

    The shortcut is the identity, or a strided 1x1 ``ConvBNAct`` when the shape changes.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvBNAct(in_channels, out_channels, 3, stride),
            ConvBNAct(out_channels, out_channels, 3, act=False),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = ConvBNAct(in_channels, out_channels, 1, stride, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class InceptionBlock(nn.Module):
    """GoogLeNet's block: 1x1, 1x1-3x3, 1x1-5x5 and 3x3-pool-1x1 branches, concatenated.

    ``out_channels`` is split evenly over the four branches (the first takes the remainder).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        c = out_channels // 4
        reduce = max(1, c // 2)
        self.branches = nn.ModuleList(
            [
                ConvBNAct(in_channels, out_channels - 3 * c, 1),
                nn.Sequential(ConvBNAct(in_channels, reduce, 1), ConvBNAct(reduce, c, 3)),
                nn.Sequential(ConvBNAct(in_channels, reduce, 1), ConvBNAct(reduce, c, 5)),
                nn.Sequential(nn.MaxPool2d(3, 1, 1), ConvBNAct(in_channels, c, 1)),
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


class DenseLayer(nn.Module):
    """DenseNet-BC layer: a 1x1 bottleneck to ``4 * growth`` then a 3x3 to ``growth`` maps,
    concatenated to its input."""

    def __init__(self, in_channels: int, growth: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvBNAct(in_channels, 4 * growth, 1), ConvBNAct(4 * growth, growth, 3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], dim=1)


class GlobalPool(nn.Module):
    """Average or max over all spatial positions, ``[B, C, H, W]`` to ``[B, C]``, times a
    fixed ``scale`` (ResNet-9's 0.125 keeps max-pooled logits small at high learning rates)."""

    def __init__(self, mode: str = "avg", scale: float = 1.0) -> None:
        super().__init__()
        if mode not in ("avg", "max"):
            raise ValueError(f"unknown pooling {mode!r}; avg or max")
        self.mode = mode
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.amax(dim=(2, 3)) if self.mode == "max" else x.mean(dim=(2, 3))
        return pooled * self.scale if self.scale != 1.0 else pooled


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


class InputTerm(nn.Module):
    """Class scores of the raw inputs themselves, added to a ``Classifier``'s logits by the
    ``Predictor`` (a text model's sentence term): the network's forward, which sees only the
    encoded inputs, cannot compute it. Called with the raw ``items`` and the network's logits
    for them (a term may score only the items the network is unsure of)."""

    def forward(self, items: Sequence[Any], network: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


# the input term's key prefix in bundles saved before it had its own slot
_LEGACY_INPUT_TERM = "sentence."


class Classifier(nn.Module):
    """Any input encoder followed by the shared classifier head; ``side``, when given, a
    second model of the same input whose logits are added to the head's (a text model's
    n-gram scores). The side model is fitted once the network has trained (its weight is 0
    until then), so training steps leave it out. ``input_term``, when given, scores the raw
    inputs (``InputTerm``): the ``Predictor`` adds it, this forward does not."""

    def __init__(
        self,
        encoder: nn.Module,
        head: ClassifierHead,
        side: nn.Module | None = None,
        input_term: InputTerm | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.side = side
        self.input_term = input_term

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.encoder(x))
        return logits if self.side is None or self.training else logits + self.side(x)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        """Bundles saved before ``input_term`` kept its buffers under ``sentence.``."""
        legacy = prefix + _LEGACY_INPUT_TERM
        for key in [k for k in state_dict if k.startswith(legacy)]:
            state_dict[prefix + "input_term." + key.removeprefix(legacy)] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args)

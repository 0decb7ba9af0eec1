"""Image classifiers sized for small (32x32) inputs, all ``Classifier(encoder, ClassifierHead)``.

Each encoder maps normalised pixels ``[B, C, S, S]`` to pooled features ``[B, F]`` and is
assembled from the blocks in ``textcnn.models.blocks``; the head is the TextCNN's.
``width`` scales the channels and ``depth`` the layers of each family; ``input_size`` is the
side every image is resized and cropped to (only the dense layers of LeNet and AlexNet depend
on it). A size an architecture cannot take (its pooling would leave no pixel) is refused
with a ``ValueError`` naming the smallest it takes (``ImageConfig.min_input_size``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import wraps
from typing import TypeVar

from torch import nn

from textcnn.models.blocks import (
    BasicBlock,
    Classifier,
    ClassifierHead,
    ConvAct,
    ConvBNAct,
    ConvPoolGroup,
    DenseLayer,
    GlobalPool,
    InceptionBlock,
    PatchWhitening,
)
from textcnn.models.registry import register_model

NORMS = ("lrn", "batch")


@dataclass
class ImageConfig:
    num_classes: int
    input_size: int = 32
    in_channels: int = 3
    dropout: float = 0.0
    max_norm: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            if isinstance(getattr(self, f.name), list):
                setattr(self, f.name, tuple(getattr(self, f.name)))

    def min_input_size(self) -> int:
        """The smallest ``input_size`` these settings take (padded convolutions and
        padded pooling take any)."""
        return 1


Config = TypeVar("Config", bound=ImageConfig)


def register_image(
    name: str, config: type[Config]
) -> Callable[[Callable[[Config], Classifier]], Callable[[Config], Classifier]]:
    """``register_model`` for image builders, refusing inputs smaller than the config's
    ``min_input_size`` before building."""

    def wrap(build: Callable[[Config], Classifier]) -> Callable[[Config], Classifier]:
        @wraps(build)
        def checked(cfg: Config) -> Classifier:
            smallest = cfg.min_input_size()
            if cfg.input_size < smallest:
                raise ValueError(
                    f"{name} needs inputs of at least {smallest} pixels, not {cfg.input_size}"
                )
            return build(cfg)

        register_model(name, modality="image", config=config)(checked)
        return build

    return wrap


def halvings(pools: int) -> int:
    """The smallest side that survives ``pools`` unpadded 2x2 poolings of stride 2."""
    return 2**pools


@dataclass
class LeNetConfig(ImageConfig):
    """LeNet-5: ``width`` maps in the first 5x5 convolution, ``8/3`` as many in the second."""

    width: int = 6
    hidden: tuple[int, ...] = (120, 84)

    def min_input_size(self) -> int:
        return 16  # two unpadded 5x5 convolutions, each followed by a 2x2 pool


@dataclass
class VGGConfig(ImageConfig):
    """Stages of ``depth[i]`` 3x3 convolutions with ``width * 2**i`` maps, each max-pooled."""

    width: int = 64
    depth: tuple[int, ...] = (1, 1, 2, 2)

    def min_input_size(self) -> int:
        return halvings(len(self.depth))


@dataclass
class NiNConfig(ImageConfig):
    """Blocks of a spatial convolution then ``depth[i]`` 1x1 convolutions, ``width`` maps."""

    width: int = 96
    depth: tuple[int, ...] = (2, 2, 2)


@dataclass
class InceptionConfig(ImageConfig):
    """Stages of ``depth[i]`` Inception blocks with ``width * 2**(i+2)`` maps (capped at x16)."""

    width: int = 32
    depth: tuple[int, ...] = (2, 2, 1)


@dataclass
class ResNetConfig(ImageConfig):
    """ResNet-9 (Page's DAWNBench net) by default: stages of a 3x3 convolution with
    ``width * 2**(i+1)`` maps, a 2x2 max pool and ``depth[i]`` residual blocks; global max
    pooling, features times ``feature_scale``."""

    width: int = 64
    depth: tuple[int, ...] = (1, 0, 1)
    feature_scale: float = 0.125

    def min_input_size(self) -> int:
        return halvings(len(self.depth))


@dataclass
class DenseNetConfig(ImageConfig):
    """DenseNet-BC: ``depth[i]`` layers of growth ``width`` per dense block, halving
    transitions between blocks."""

    width: int = 12
    depth: tuple[int, ...] = (6, 6, 6)

    def min_input_size(self) -> int:
        return halvings(len(self.depth) - 1)


@dataclass
class AlexNetConfig(ImageConfig):
    """AlexNet for small inputs, after Krizhevsky's own CIFAR-10 nets: five stride-1
    convolutions (5x5, 5x5, 3x3, 3x3, 3x3) with ``width * (1, 3, 6, 4, 4)`` maps and ReLU,
    overlapping 3x3 max pools of stride 2 after the first, second and fifth, then dense
    layers of ``hidden`` units with ReLU and ``hidden_dropout`` before each. ``norm``:
    ``lrn`` (local response normalisation after the first two convolutions, as in the paper)
    or ``batch`` (batch norm after every convolution)."""

    width: int = 64
    hidden: tuple[int, ...] = (1024, 1024)
    hidden_dropout: float = 0.5
    norm: str = "lrn"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.norm not in NORMS:
            raise ValueError(f"unknown norm {self.norm!r}; one of {', '.join(NORMS)}")

    def min_input_size(self) -> int:
        return 15  # three overlapping 3x3 pools of stride 2: 15 -> 7 -> 3 -> 1


@dataclass
class AlexNetBNConfig(AlexNetConfig):
    """AlexNet with batch norm after every convolution instead of LRN."""

    norm: str = "batch"


@dataclass
class AirbenchConfig(ImageConfig):
    """Keller Jordan's airbench94 net: a ``PatchWhitening`` layer of ``whiten_kernel``-square
    filters and GELU, then three ``ConvPoolGroup`` of ``width * (1, 4, 4)`` maps, global max
    pooling, features times ``feature_scale``. Train it with whitening fitted to the data
    (``train_image`` does) and, for airbench's speed, with ``textcnn.image.airbench``."""

    width: int = 64
    whiten_kernel: int = 2
    bn_momentum: float = 0.4
    feature_scale: float = 1 / 9

    def min_input_size(self) -> int:
        return halvings(3) + self.whiten_kernel - 1


class ImageEncoder(nn.Sequential):
    """Layers ending in global pooling; ``out_features`` is the pooled feature size."""

    def __init__(self, *layers: nn.Module, out_features: int) -> None:
        super().__init__(*layers)
        self.out_features = out_features


def classifier(encoder: ImageEncoder, cfg: ImageConfig) -> Classifier:
    head = ClassifierHead(encoder.out_features, cfg.num_classes, cfg.dropout, cfg.max_norm)
    return Classifier(encoder, head)


@register_image("lenet5", LeNetConfig)
def lenet5(cfg: LeNetConfig) -> Classifier:
    c1, c2 = cfg.width, cfg.width * 8 // 3
    side = ((cfg.input_size - 4) // 2 - 4) // 2
    layers: list[nn.Module] = [
        ConvBNAct(cfg.in_channels, c1, 5, padding=0),
        nn.AvgPool2d(2),
        ConvBNAct(c1, c2, 5, padding=0),
        nn.AvgPool2d(2),
        nn.Flatten(),
    ]
    features = c2 * side * side
    for hidden in cfg.hidden:
        layers += [nn.Linear(features, hidden), nn.ReLU(inplace=True)]
        features = hidden
    return classifier(ImageEncoder(*layers, out_features=features), cfg)


def alexnet(cfg: AlexNetConfig) -> Classifier:
    widths = [cfg.width * m for m in (1, 3, 6, 4, 4)]
    layers: list[nn.Module] = []
    channels, side = cfg.in_channels, cfg.input_size
    for i, width in enumerate(widths):
        kernel = 5 if i < 2 else 3
        if cfg.norm == "batch":
            layers.append(ConvBNAct(channels, width, kernel))
        else:
            layers.append(ConvAct(channels, width, kernel, lrn=i < 2))
        if i in (0, 1, 4):
            layers.append(nn.MaxPool2d(3, 2))
            side = (side - 3) // 2 + 1
        channels = width
    layers.append(nn.Flatten())
    features = channels * side * side
    for hidden in cfg.hidden:
        layers += [nn.Dropout(cfg.hidden_dropout), nn.Linear(features, hidden), nn.ReLU(True)]
        features = hidden
    return classifier(ImageEncoder(*layers, out_features=features), cfg)


register_image("alexnet", AlexNetConfig)(alexnet)
register_image("alexnet_bn", AlexNetBNConfig)(alexnet)


@register_image("vgg", VGGConfig)
def vgg(cfg: VGGConfig) -> Classifier:
    layers: list[nn.Module] = []
    channels = cfg.in_channels
    for stage, convs in enumerate(cfg.depth):
        width = cfg.width * 2**stage
        for _ in range(convs):
            layers.append(ConvBNAct(channels, width))
            channels = width
        layers.append(nn.MaxPool2d(2))
    layers.append(GlobalPool("avg"))
    return classifier(ImageEncoder(*layers, out_features=channels), cfg)


@register_image("nin", NiNConfig)
def nin(cfg: NiNConfig) -> Classifier:
    """Network in Network: no dense layers. The head's linear layer is NiN's last 1x1
    convolution moved after the average pooling, which it commutes with."""
    layers: list[nn.Module] = []
    channels = cfg.in_channels
    for block, ones in enumerate(cfg.depth):
        last = block == len(cfg.depth) - 1
        layers.append(ConvBNAct(channels, cfg.width, 3 if last else 5))
        layers += [ConvBNAct(cfg.width, cfg.width, 1) for _ in range(ones)]
        if not last:
            layers += [nn.MaxPool2d(3, 2, 1), nn.Dropout(0.25)]
        channels = cfg.width
    layers.append(GlobalPool("avg"))
    return classifier(ImageEncoder(*layers, out_features=channels), cfg)


@register_image("inception", InceptionConfig)
def inception(cfg: InceptionConfig) -> Classifier:
    channels = cfg.width * 2
    layers: list[nn.Module] = [ConvBNAct(cfg.in_channels, channels)]
    for stage, blocks in enumerate(cfg.depth):
        if stage:
            layers.append(nn.MaxPool2d(3, 2, 1))
        width = cfg.width * min(2 ** (stage + 2), 16)
        for _ in range(blocks):
            layers.append(InceptionBlock(channels, width))
            channels = width
    layers.append(GlobalPool("avg"))
    return classifier(ImageEncoder(*layers, out_features=channels), cfg)


@register_image("resnet", ResNetConfig)
def resnet(cfg: ResNetConfig) -> Classifier:
    channels = cfg.width
    layers: list[nn.Module] = [ConvBNAct(cfg.in_channels, channels)]
    for stage, blocks in enumerate(cfg.depth):
        width = cfg.width * 2 ** (stage + 1)
        layers += [ConvBNAct(channels, width), nn.MaxPool2d(2)]
        layers += [BasicBlock(width, width) for _ in range(blocks)]
        channels = width
    layers.append(GlobalPool("max", cfg.feature_scale))
    return classifier(ImageEncoder(*layers, out_features=channels), cfg)


@register_image("densenet", DenseNetConfig)
def densenet(cfg: DenseNetConfig) -> Classifier:
    channels = 2 * cfg.width
    layers: list[nn.Module] = [ConvBNAct(cfg.in_channels, channels)]
    for block, count in enumerate(cfg.depth):
        for _ in range(count):
            layers.append(DenseLayer(channels, cfg.width))
            channels += cfg.width
        if block < len(cfg.depth) - 1:
            layers += [ConvBNAct(channels, channels // 2, 1), nn.AvgPool2d(2)]
            channels //= 2
    layers.append(GlobalPool("avg"))
    return classifier(ImageEncoder(*layers, out_features=channels), cfg)


@register_image("airbench", AirbenchConfig)
def airbench(cfg: AirbenchConfig) -> Classifier:
    whiten = PatchWhitening(cfg.in_channels, cfg.whiten_kernel)
    layers: list[nn.Module] = [whiten, nn.GELU()]
    channels = whiten.out_channels
    for width in (cfg.width, cfg.width * 4, cfg.width * 4):
        layers.append(ConvPoolGroup(channels, width, cfg.bn_momentum))
        channels = width
    layers.append(GlobalPool("max", cfg.feature_scale))
    return classifier(ImageEncoder(*layers, out_features=channels), cfg)

"""Image classifiers sized for small (32x32) inputs, all ``Classifier(encoder, ClassifierHead)``.

Each encoder maps normalised pixels ``[B, C, S, S]`` to pooled features ``[B, F]`` and is
assembled from the blocks in ``textcnn.models.blocks``; the head is the TextCNN's.
``width`` scales the channels and ``depth`` the layers of each family; ``input_size`` is the
side every image is resized and cropped to (only LeNet's dense layers depend on it).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from torch import nn

from textcnn.models.blocks import (
    BasicBlock,
    Classifier,
    ClassifierHead,
    ConvBNAct,
    DenseLayer,
    GlobalPool,
    InceptionBlock,
)
from textcnn.models.registry import register_model


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


@dataclass
class LeNetConfig(ImageConfig):
    """LeNet-5: ``width`` maps in the first 5x5 convolution, ``8/3`` as many in the second."""

    width: int = 6
    hidden: tuple[int, ...] = (120, 84)


@dataclass
class VGGConfig(ImageConfig):
    """Stages of ``depth[i]`` 3x3 convolutions with ``width * 2**i`` maps, each max-pooled."""

    width: int = 64
    depth: tuple[int, ...] = (1, 1, 2, 2)


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


@dataclass
class DenseNetConfig(ImageConfig):
    """DenseNet-BC: ``depth[i]`` layers of growth ``width`` per dense block, halving
    transitions between blocks."""

    width: int = 12
    depth: tuple[int, ...] = (6, 6, 6)


class ImageEncoder(nn.Sequential):
    """Layers ending in global pooling; ``out_features`` is the pooled feature size."""

    def __init__(self, *layers: nn.Module, out_features: int) -> None:
        super().__init__(*layers)
        self.out_features = out_features


def classifier(encoder: ImageEncoder, cfg: ImageConfig) -> Classifier:
    head = ClassifierHead(encoder.out_features, cfg.num_classes, cfg.dropout, cfg.max_norm)
    return Classifier(encoder, head)


@register_model("lenet5", modality="image", config=LeNetConfig)
def lenet5(cfg: LeNetConfig) -> Classifier:
    c1, c2 = cfg.width, cfg.width * 8 // 3
    side = ((cfg.input_size - 4) // 2 - 4) // 2
    if side < 1:
        raise ValueError(f"lenet5 needs inputs of at least 16 pixels, not {cfg.input_size}")
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


@register_model("vgg", modality="image", config=VGGConfig)
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


@register_model("nin", modality="image", config=NiNConfig)
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


@register_model("inception", modality="image", config=InceptionConfig)
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


@register_model("resnet", modality="image", config=ResNetConfig)
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


@register_model("densenet", modality="image", config=DenseNetConfig)
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

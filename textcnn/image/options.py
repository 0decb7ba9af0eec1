"""The options of an image training run: the one place their defaults and help are written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textcnn.engine.config import TrainConfig, option
from textcnn.errors import TextCNNError
from textcnn.models import list_models, make_config

AUGMENT = "augmentation"


def default_train_config() -> TrainConfig:
    """SGD-Nesterov on a one-cycle schedule with label smoothing: the fast CIFAR recipe."""
    return TrainConfig(
        epochs=20,
        batch_size=512,
        optimizer="sgd",
        lr=0.2,
        weight_decay=5e-4,
        schedule="onecycle",
        label_smoothing=0.2,
    )


@dataclass
class ImageTrainOptions:
    """``width``/``depth``/``size`` default to the architecture's own settings."""

    arch: str = option("resnet", "architecture", choices=list_models("image"))
    width: int | None = option(None, "channels (default: the architecture's)")
    depth: tuple[int, ...] | None = option(
        None, "layers per stage, e.g. 1,0,1 (default: the architecture's)"
    )
    size: int | None = option(None, "input side in pixels (default: 32)")
    dropout: float = option(0.0, "dropout before the head")
    crop_padding: int = option(4, "random-crop padding, 0 = off", group=AUGMENT)
    flip: bool = option(True, "no random horizontal flips", flag="--no-flip", group=AUGMENT)
    cutout: int = option(0, "cutout square side, 0 = off", group=AUGMENT)
    tta: bool = option(True, "no flip test-time augmentation", flag="--no-tta", group=AUGMENT)
    dev_fraction: float = option(
        0.0, "without --dev, hold out this much", group="data", type="fraction"
    )
    train: TrainConfig = field(default_factory=default_train_config)

    def model_config(self, num_classes: int) -> Any:
        given = {"width": self.width, "depth": self.depth, "input_size": self.size}
        settings = {k: v for k, v in given.items() if v is not None}
        try:
            return make_config(self.arch, num_classes=num_classes, dropout=self.dropout, **settings)
        except KeyError as exc:
            raise TextCNNError(str(exc.args[0])) from None
        except TypeError as exc:
            raise TextCNNError(f"{self.arch}: {exc}") from None

"""Train an image classifier on the shared engine: statistics, model, ``fit``, bundle."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from textcnn.engine.bundle import Bundle
from textcnn.engine.evaluate import evaluate
from textcnn.engine.predictor import Predictor
from textcnn.engine.splits import dev_split, sort_labels
from textcnn.engine.trainer import Split, TrainConfig, fit
from textcnn.errors import DataError, TextCNNError
from textcnn.image.augment import ImageTransform
from textcnn.image.data import ImageDataset
from textcnn.image.processor import ImageProcessor, channel_stats
from textcnn.models import create_model, make_config

log = logging.getLogger(__name__)


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

    arch: str = "resnet"
    width: int | None = None
    depth: tuple[int, ...] | None = None
    size: int | None = None
    dropout: float = 0.0
    crop_padding: int = 4
    flip: bool = True
    cutout: int = 0
    tta: bool = True
    dev_fraction: float = 0.0
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


def check_classes(data: ImageDataset, known: list[str]) -> None:
    unknown = sorted(set(data.labels) - set(known))
    if unknown:
        raise DataError(data.source, f"classes {unknown} are not among the training classes")


def _load_warm_weights(
    model: torch.nn.Module, old: Bundle, arch: str, model_config: Any, labels: list[str]
) -> None:
    if (old.arch, old.model_config, old.labels) != (arch, model_config, labels):
        raise TextCNNError(
            f"warm start needs the old model's architecture, sizes and labels: it is {old.arch} "
            f"{old.model_config} with labels {', '.join(old.labels)}"
        )
    model.load_state_dict(old.model.state_dict())


def train_image(
    train: ImageDataset,
    opts: ImageTrainOptions,
    dev: ImageDataset | None = None,
    test: ImageDataset | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    warm_start: Bundle | None = None,
) -> Bundle:
    """Train one model; with neither ``dev`` nor ``dev_fraction`` the last epoch is kept.

    ``warm_start``: begin from that bundle's weights (same architecture, sizes and labels).
    """
    labels = sort_labels(train.labels)
    if len(labels) < 2:
        raise DataError(train.source, f"only one class ({labels[0]!r}): need at least two")
    for other in (dev, test):
        if other is not None:
            check_classes(other, labels)
    if dev is None and opts.dev_fraction > 0:
        train, dev = dev_split(train, opts.dev_fraction, opts.train.seed)
    model_config = opts.model_config(len(labels))
    cfg = replace(opts.train, tta=opts.tta, drop_last=True, channels_last=True)
    torch.manual_seed(cfg.seed)
    try:
        model = create_model(opts.arch, model_config)
    except ValueError as exc:  # a size or shape the architecture cannot take
        raise TextCNNError(str(exc)) from None
    if warm_start is not None:
        _load_warm_weights(model, warm_start, opts.arch, model_config, labels)
    size = model_config.input_size
    pixels = ImageProcessor(size).pixels(train.items)
    mean, std = channel_stats(pixels)
    processor = ImageProcessor(size, mean, std, flip_tta=opts.tta)
    label_id = {label: i for i, label in enumerate(labels)}

    def to_split(data: ImageDataset, x: torch.Tensor | None = None) -> Split:
        x = processor.pixels(data.items) if x is None else x
        return Split(x, torch.tensor([label_id[label] for label in data.labels]))

    transform = ImageTransform(
        processor, opts.crop_padding, opts.flip, opts.cutout, channels_last=True
    )
    dev_data = to_split(dev) if dev is not None else None
    result = fit(model, to_split(train, pixels), dev_data, cfg, transform, on_epoch)
    bundle = Bundle(
        model=model.eval().to(memory_format=torch.contiguous_format),
        arch=opts.arch,
        model_config=model_config,
        processor=processor,
        labels=labels,
        training={
            "options": asdict(opts),
            "result": result.to_dict(),
            "examples": {"train": len(train), "dev": len(dev) if dev is not None else 0},
            "skipped_files": len(train.skipped),
        },
        data_fingerprint=train.fingerprint,
    )
    bundle.metrics = {"best_epoch": result.best_epoch}
    if dev is not None:
        bundle.metrics["dev_accuracy"] = result.best_dev_accuracy
    if test is not None:
        report = evaluate(Predictor(bundle), test.items, test.labels, test.source)
        bundle.metrics["test"] = report
        bundle.metrics["test_accuracy"] = report["accuracy"]
    bundle.model = model.cpu()
    return bundle

"""Train an image classifier on the shared engine: statistics, model, ``fit``, bundle."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

import torch

from textcnn.engine.bundle import Bundle
from textcnn.engine.finish import StoreEvaluation, finish_bundle
from textcnn.engine.splits import dev_split, training_labels
from textcnn.engine.trainer import OptimizerFactory, Split, fit
from textcnn.engine.warmstart import check_warm_start
from textcnn.errors import TextCNNError
from textcnn.image.augment import ImageTransform
from textcnn.image.data import ImageDataset
from textcnn.image.options import ImageTrainOptions
from textcnn.image.processor import ImageProcessor, channel_stats
from textcnn.models import create_model
from textcnn.models.blocks import whitening_layers

log = logging.getLogger(__name__)


def _load_warm_weights(
    model: torch.nn.Module, old: Bundle, arch: str, model_config: Any, labels: list[str]
) -> None:
    settings = {}
    if old.arch == arch:
        settings = {
            f.name: (getattr(old.model_config, f.name), getattr(model_config, f.name))
            for f in fields(model_config)
        }
    check_warm_start(old, arch, settings, labels)
    model.load_state_dict(old.model.state_dict())


WHITEN_SAMPLE = 5000  # airbench's: enough for a stable 12 x 12 patch covariance


def whiten_sample(
    model: torch.nn.Module, processor: ImageProcessor, pixels: torch.Tensor, seed: int
) -> None:
    """Fit ``model``'s whitening layers, if any, to a seeded sample of the training
    ``pixels`` (``uint8``, in any order: class-sorted folders included), normalised."""
    layers = whitening_layers(model)
    if layers:
        order = torch.randperm(len(pixels), generator=torch.Generator().manual_seed(seed))
        sample = processor.normalize(pixels[order[:WHITEN_SAMPLE]])
        for layer in layers:
            layer.fit(sample)


def train_image(
    train: ImageDataset,
    opts: ImageTrainOptions,
    dev: ImageDataset | None = None,
    test: ImageDataset | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    warm_start: Bundle | None = None,
    labels: list[str] | None = None,
    optimizer_factory: OptimizerFactory | None = None,
    store_evaluation: StoreEvaluation | None = None,
) -> Bundle:
    """Train one model; with neither ``dev`` nor ``dev_fraction`` the last epoch is kept.

    ``warm_start``: begin from that bundle's weights (same architecture, sizes and labels).
    ``labels``: ``training_labels(train, dev, test)``, when the caller has checked them.
    ``optimizer_factory``: a recipe's optimiser and schedule (see ``fit``).
    ``store_evaluation``: records the evaluation a report is drawn from (``finish_bundle``).
    A whitening first layer is fitted to (up to ``WHITEN_SAMPLE``) training images.
    """
    labels = labels or training_labels(train, dev, test)
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
    if warm_start is None:
        whiten_sample(model, processor, pixels, cfg.seed)
    label_id = {label: i for i, label in enumerate(labels)}

    def to_split(data: ImageDataset, x: torch.Tensor | None = None) -> Split:
        x = processor.pixels(data.items) if x is None else x
        return Split(x, torch.tensor([label_id[label] for label in data.labels]))

    transform = ImageTransform(
        processor, opts.crop_padding, opts.flip, opts.cutout, channels_last=True
    )
    dev_data = to_split(dev) if dev is not None else None
    result = fit(
        model, to_split(train, pixels), dev_data, cfg, transform, on_epoch, optimizer_factory
    )
    return finish_bundle(
        model.to(memory_format=torch.contiguous_format),
        arch=opts.arch,
        model_config=model_config,
        processor=processor,
        labels=labels,
        options=opts,
        result=result,
        train=train,
        dev=dev,
        test=test,
        training={"skipped_files": len(train.skipped)},
        store_evaluation=store_evaluation,
    )

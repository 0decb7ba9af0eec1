"""``textcnn train-image``: an image classifier on the same engine and bundle format."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from textcnn.cli.common import (
    add_output_options,
    add_train_options,
    fraction,
    int_list,
    train_config,
    write_output,
)
from textcnn.errors import TextCNNError
from textcnn.image.data import ImageDataset, read_image_dataset, split_names
from textcnn.image.train import ImageTrainOptions, default_train_config, train_image
from textcnn.models import list_models


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-image",
        help="train an image classifier (ResNet by default) on <class>/<image> folders",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        type=Path,
        required=True,
        help="folder or tar of <class>/<image> files; a root holding train/ (and test/) "
        "folders uses train/ (and test/ unless --test is given)",
    )
    g.add_argument("--dev", type=Path, help="dev folder/tar: keeps the best epoch")
    g.add_argument("--dev-fraction", type=fraction, default=0.0, help="else hold out this much")
    g.add_argument("--test", type=Path, help="test folder/tar, evaluated at the end")
    g = p.add_argument_group("model")
    g.add_argument("--arch", choices=list_models("image"), default="resnet")
    g.add_argument("--width", type=int, help="channels (default: the architecture's)")
    g.add_argument(
        "--depth", type=int_list, help="layers per stage, e.g. 1,0,1 (default: the architecture's)"
    )
    g.add_argument("--size", type=int, help="input side in pixels (default: 32)")
    g.add_argument("--dropout", type=float, default=0.0)
    g = p.add_argument_group("augmentation")
    g.add_argument("--crop-padding", type=int, default=4, help="random-crop padding, 0 = off")
    g.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    g.add_argument("--cutout", type=int, default=0, help="cutout square side, 0 = off")
    g.add_argument("--no-tta", action="store_true", help="no flip test-time augmentation")
    defaults = default_train_config()
    add_train_options(p, defaults.epochs, defaults.batch_size, defaults.optimizer)
    p.set_defaults(
        lr=defaults.lr,
        weight_decay=defaults.weight_decay,
        schedule=defaults.schedule,
        label_smoothing=defaults.label_smoothing,
    )
    add_output_options(p)
    p.set_defaults(func=cmd_train_image)


def options_from_args(args: argparse.Namespace) -> ImageTrainOptions:
    try:
        return ImageTrainOptions(
            arch=args.arch,
            width=args.width,
            depth=args.depth,
            size=args.size,
            dropout=args.dropout,
            crop_padding=args.crop_padding,
            flip=not args.no_flip,
            cutout=args.cutout,
            tta=not args.no_tta,
            dev_fraction=args.dev_fraction,
            train=train_config(args),
        )
    except ValueError as exc:
        raise TextCNNError(str(exc)) from exc


def training_images(path: Path) -> tuple[ImageDataset, Path | None]:
    """The training images of ``path`` (its ``train/`` split when it has splits, like the
    CIFAR-10 archive) and the path of its ``test/`` split, if any."""
    splits = split_names(path)
    if not splits:
        return read_image_dataset(path), None
    return read_image_dataset(path / "train"), path / "test" if "test" in splits else None


def cmd_train_image(args: argparse.Namespace) -> int:
    opts = options_from_args(args)
    train, test_split = training_images(args.data)
    test = args.test or test_split
    dev = read_image_dataset(args.dev) if args.dev else None
    bundle = train_image(train, opts, dev=dev, test=read_image_dataset(test) if test else None)
    out = write_output(bundle, args)
    summary = {"model": str(out), **{k: v for k, v in bundle.metrics.items() if k != "test"}}
    print(json.dumps(summary))
    return 0

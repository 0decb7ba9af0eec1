"""``textcnn train-<modality>``: the training command of each modality that has no command
module of its own (``train-image``, and any modality registered later).

Its flags come from the modality: the data reader's options, the training options
dataclass and its ``TrainConfig`` defaults.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from textcnn.cli.common import (
    add_output_options,
    add_train_options,
    print_summary,
    reader_options,
    train_config,
    write_output,
)
from textcnn.cli.options import DefaultsHelpFormatter, add_fields, default_of, from_args
from textcnn.engine.splits import training_labels
from textcnn.errors import TextCNNError
from textcnn.modalities import Modality, get_modality, list_modalities


def add_parsers(sub: argparse._SubParsersAction) -> None:
    for name in list_modalities():
        modality = get_modality(name)
        if modality.command not in sub.choices:  # not made by a command module (text's)
            add_train_parser(sub, modality)


def add_train_parser(sub: argparse._SubParsersAction, modality: Modality) -> None:
    p = sub.add_parser(
        modality.command,
        help=modality.summary,
        formatter_class=DefaultsHelpFormatter,
    )
    g = p.add_argument_group("data")
    g.add_argument("--data", type=Path, required=True, help=modality.data_help)
    g.add_argument("--dev", type=Path, help="dev data, read like --data: keeps the best epoch")
    g.add_argument("--test", type=Path, help="test data, evaluated at the end")
    add_fields(p, modality.reader, group="data")
    add_fields(p, modality.options)
    add_train_options(p, default_of(modality.options, "train"))
    add_output_options(p)
    p.set_defaults(func=cmd_train, modality=modality.name)


def options_from_args(modality: Modality, args: argparse.Namespace) -> Any:
    try:
        return from_args(modality.options, args, train=train_config(args))
    except ValueError as exc:
        raise TextCNNError(str(exc)) from exc


def cmd_train(args: argparse.Namespace) -> int:
    modality = get_modality(args.modality)
    opts = options_from_args(modality, args)
    read = reader_options(modality, args)
    train, test_path = modality.read_training(args.data, read)
    test_path = args.test or test_path
    dev = modality.read(args.dev, read) if args.dev else None
    test = modality.read(test_path, read) if test_path else None
    labels = training_labels(train, dev, test)
    bundle = modality.train(train, opts, labels=labels, dev=dev, test=test)
    print_summary(write_output(bundle, args), bundle)
    return 0

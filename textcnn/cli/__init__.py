"""The ``textcnn`` command: one sub-command module per area, each adding its parsers."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from textcnn.cli import inference, text
from textcnn.errors import TextCNNError

COMMAND_MODULES = [text, inference]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textcnn", description="Train, evaluate, serve and run CNN classifiers."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("gensim").setLevel(max(level, logging.WARNING))
    try:
        return args.func(args) or 0
    except TextCNNError as exc:
        print(f"textcnn: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("textcnn: interrupted", file=sys.stderr)
        return 130

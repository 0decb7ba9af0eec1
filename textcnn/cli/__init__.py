"""The ``textcnn`` command: one sub-command module per area, each adding its parsers."""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import re
import sys
from collections.abc import Sequence

from textcnn.cli import inference, serve, store, text, train
from textcnn.engine.distributed import is_main_process, shutdown_distributed
from textcnn.errors import TextCNNError

# ``train`` last: it adds a training command for each modality no module has made one for.
COMMAND_MODULES = [text, inference, store, serve, train]


def as_flags(message: str) -> str:
    """A library message with the options it names (in backticks) shown as the CLI's flags."""
    return re.sub(r"`([a-z_]+)`", lambda m: "--" + m[1].replace("_", "-"), message)


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
    main_process = is_main_process()
    if not main_process:  # another torchrun rank: rank 0 logs and prints
        level = max(level, logging.WARNING)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("gensim").setLevel(max(level, logging.WARNING))
    quiet = contextlib.nullcontext() if main_process else contextlib.redirect_stdout(io.StringIO())
    try:
        with quiet:
            return args.func(args) or 0
    except TextCNNError as exc:
        print(f"textcnn: error: {as_flags(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("textcnn: interrupted", file=sys.stderr)
        return 130
    finally:
        shutdown_distributed()

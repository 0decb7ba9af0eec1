"""The ``textcnn`` command: one sub-command module per area, each adding its parsers."""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import re
import sys
from collections.abc import Sequence

from textcnn.cli import export, inference, serve, store, text, train
from textcnn.engine.distributed import is_main_process, shutdown_distributed
from textcnn.errors import TextCNNError

# ``train`` last: it adds a training command for each modality no module has made one for.
COMMAND_MODULES = [text, inference, export, store, serve, train]


def command_flags(parser: argparse.ArgumentParser, command: str) -> dict[str, str]:
    """The flag of each option of ``command`` (and its actions), by the option's name; then
    the other commands' flags, for an option this one lacks (an export error names an option
    of the training that made the model: `sentence_encoder` is ``train``'s flag)."""
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    others = [p for name, p in commands.choices.items() if name != command]
    flags: dict[str, str] = {}
    for group in ([commands.choices[command]], others):
        todo = list(group)
        while todo:
            for action in todo.pop()._actions:
                if isinstance(action, argparse._SubParsersAction):
                    todo += action.choices.values()
                elif action.option_strings:
                    flags.setdefault(action.dest, action.option_strings[-1])
    return flags


class FlagNames(logging.Filter):
    """Shows the options a library log message names in backticks as ``command``'s flags,
    as ``main`` does for error messages."""

    def __init__(self, flags: dict[str, str]) -> None:
        super().__init__()
        self.flags = flags

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "`" in message:
            record.msg, record.args = as_flags(message, self.flags), None
        return True


def as_flags(message: str, flags: dict[str, str]) -> str:
    """A library message with the options it names in backticks (`lowercase`) shown as
    flags (``--keep-case``); other backticked text stays as it is."""
    return re.sub(r"`(\w+)`", lambda m: flags.get(m[1], m[0]), message)


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
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    main_process = is_main_process()
    if not main_process:  # another torchrun rank: rank 0 logs and prints
        level = max(level, logging.WARNING)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    flags = command_flags(parser, args.command)
    for handler in logging.getLogger().handlers:  # this command's, not an earlier call's
        for old in [f for f in handler.filters if isinstance(f, FlagNames)]:
            handler.removeFilter(old)
        handler.addFilter(FlagNames(flags))
    for chatty in ("gensim", "botocore", "boto3"):
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))
    quiet = contextlib.nullcontext() if main_process else contextlib.redirect_stdout(io.StringIO())
    try:
        with quiet:
            return args.func(args) or 0
    except TextCNNError as exc:
        message = as_flags(str(exc), flags)
        print(f"textcnn: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("textcnn: interrupted", file=sys.stderr)
        return 130
    finally:
        shutdown_distributed()

"""Errors a user can act on: each names what was wrong and, for data, where.

Messages name options in backticks (`embeddings`), as a Python caller passes them; the CLI
shows them as its flags (``--embeddings``).
"""

from __future__ import annotations

from pathlib import Path


class TextCNNError(Exception):
    """Base class: the CLI prints these as one message and exits non-zero."""


class DataError(TextCNNError):
    """Bad training, evaluation or prediction data, located by file and line.

    ``bad_line``: one unreadable line, which the ``on_bad_lines`` option could drop instead.
    """

    def __init__(
        self, path: str | Path, message: str, line: int | None = None, bad_line: bool = False
    ) -> None:
        self.path = str(path)
        self.line = line
        self.bad_line = bad_line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class BundleError(TextCNNError):
    """A model bundle that is missing, malformed or does not match its config."""


class InputError(TextCNNError):
    """A raw input the model cannot take, such as an image that does not decode."""


class ExportError(TextCNNError):
    """A model that cannot be exported, or an export that would not reproduce its outputs."""

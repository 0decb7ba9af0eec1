"""Labelled text files: ``<label> <sentence>`` lines, CSV/TSV with a header, or JSONL.

Bytes are decoded as UTF-8, falling back to latin-1 with one warning, and split on ``\\n``
only (``str.splitlines`` also breaks on U+0085, which the MR corpus contains).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from textcnn.engine.config import option
from textcnn.errors import DataError

log = logging.getLogger(__name__)
FORMATS = ("auto", "label-text", "csv", "tsv", "jsonl")
BAD_LINES = ("error", "warn", "skip")  # pandas' on_bad_lines
SHOWN_BAD_LINES = 5


@dataclass(frozen=True)
class TextReadOptions:
    """How ``read_text_dataset`` finds texts and labels in a file."""

    format: str = option(
        "auto",
        "file format (auto: by extension; <label> <text> lines otherwise)",
        group="data",
        choices=FORMATS,
    )
    text_column: str = option("text", "CSV/TSV/JSONL text field", group="data")
    label_column: str = option("label", "CSV/TSV/JSONL label field", group="data")
    on_bad_lines: str = option(
        "error",
        "an unreadable line: stop (error), drop it and report (warn), or drop it (skip)",
        group="data",
        choices=BAD_LINES,
    )


@dataclass
class TextDataset:
    texts: list[str]
    labels: list[str]
    lines: list[int]
    path: str
    fingerprint: str
    dropped_lines: int = 0

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def source(self) -> str:
        """The file the examples came from (``ImageDataset`` names its folder or tar alike)."""
        return self.path

    @property
    def items(self) -> list[str]:
        """The model inputs: the texts."""
        return self.texts

    def locate(self, index: int) -> tuple[str, int]:
        return self.path, self.lines[index]

    def subset(self, indices: list[int]) -> TextDataset:
        return TextDataset(
            [self.texts[i] for i in indices],
            [self.labels[i] for i in indices],
            [self.lines[i] for i in indices],
            self.path,
            self.fingerprint,
            self.dropped_lines,
        )


def decode_bytes(raw: bytes, path: str | Path) -> str:
    """UTF-8 (a byte-order mark, as spreadsheet exports write, is dropped), else latin-1."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        log.warning("%s is not valid UTF-8; reading it as latin-1", path)
        return raw.decode("latin-1")


def split_lines(text: str) -> list[str]:
    """Split on ``\\n`` only, dropping a trailing ``\\r``."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    return {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}.get(
        suffix, "label-text"
    )


def _first_blank(line: str) -> str:
    """The space or tab that ends the label (whichever comes first)."""
    blanks = [c for c in (" ", "\t") if c in line]
    return min(blanks, key=line.index) if blanks else " "


class BadLines:
    """What to do with a line that cannot be read: ``error`` (raise), ``warn`` or ``skip``."""

    def __init__(self, path: Path, policy: str) -> None:
        if policy not in BAD_LINES:
            raise DataError(path, f"unknown bad-lines policy {policy!r}; one of {BAD_LINES}")
        self.path, self.policy = path, policy
        self.dropped: list[tuple[int, str]] = []

    def __call__(self, message: str, line: int) -> None:
        if self.policy == "error":
            hint = " (`on_bad_lines` warn or skip drops such lines)"
            raise DataError(self.path, message + hint, line, bad_line=True)
        self.dropped.append((line, message))

    def report(self) -> None:
        if not self.dropped:
            return
        if self.policy == "skip":
            log.info("%s: skipped %d unreadable lines", self.path, len(self.dropped))
            return
        shown = "; ".join(f"line {n}: {m}" for n, m in self.dropped[:SHOWN_BAD_LINES])
        more = len(self.dropped) - SHOWN_BAD_LINES
        log.warning(
            "%s: dropped %d unreadable lines (%s%s)",
            self.path, len(self.dropped), shown, f"; and {more} more" if more > 0 else "",
        )  # fmt: skip


def _label_text_rows(lines: list[str], bad: BadLines) -> list[tuple[int, str, str]]:
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line[0].isspace():
            bad("missing label: the line starts with whitespace", number)
            continue
        label, _, text = line.partition(_first_blank(line))
        if not text.strip():
            bad(f"missing text after label {label!r}", number)
            continue
        rows.append((number, label, text))
    return rows


def _table_rows(
    path: Path,
    content: str,
    delimiter: str,
    text_column: str,
    label_column: str | None,
    bad: BadLines,
) -> list[tuple[int, str, str]]:
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(path, "empty file: no header row") from None
    wanted = [text_column] + ([label_column] if label_column else [])
    for column in wanted:
        if column not in header:
            raise DataError(
                path, f"unknown column {column!r}; the header has {', '.join(header)}", 1
            )
    text_at = header.index(text_column)
    label_at = header.index(label_column) if label_column else None
    rows = []
    try:
        for record in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                bad(f"expected {len(header)} fields like the header, found {len(record)}", number)
                continue
            label = record[label_at].strip() if label_at is not None else ""
            if label_at is not None and not label:
                bad(f"missing label in column {label_column!r}", number)
                continue
            rows.append((number, label, record[text_at]))
    except csv.Error as exc:  # an unclosed quote runs on to the end of the file, say
        raise DataError(path, f"unreadable CSV from here on: {exc}", reader.line_num) from None
    return rows


def _jsonl_record(
    line: str, text_column: str, label_column: str | None
) -> tuple[str, str] | str:
    """``(label, text)`` of one JSON line, or the reason it cannot be read."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"invalid JSON: {exc.msg}"
    if not isinstance(record, dict):
        return "each line must be a JSON object"
    text = record.get(text_column)
    if not isinstance(text, str):
        return f"missing or non-string {text_column!r}"
    if not label_column:
        return "", text
    value = record.get(label_column)
    if value is None or (isinstance(value, str) and not value.strip()):
        return f"missing label {label_column!r}"
    if not isinstance(value, str | int) or isinstance(value, bool):
        return f"label must be a string or an integer: {value!r}"
    return str(value).strip(), text


def _jsonl_rows(
    lines: list[str], text_column: str, label_column: str | None, bad: BadLines
) -> list[tuple[int, str, str]]:
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parsed = _jsonl_record(line, text_column, label_column)
        if isinstance(parsed, str):
            bad(parsed, number)
            continue
        rows.append((number, *parsed))
    return rows


def read_text_dataset(
    path: str | Path,
    fmt: str = TextReadOptions.format,
    text_column: str = TextReadOptions.text_column,
    label_column: str | None = TextReadOptions.label_column,
    on_bad_lines: str = TextReadOptions.on_bad_lines,
) -> TextDataset:
    """Read a labelled file (or an unlabelled one with ``label_column=None``).

    ``on_bad_lines`` (pandas' meaning): ``error`` stops at the first unreadable line with its
    number; ``warn`` drops such lines and logs how many, with the first few; ``skip`` drops them.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such file")
    raw = path.read_bytes()
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise DataError(path, f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    bad = BadLines(path, on_bad_lines)
    content = decode_bytes(raw, path)
    if fmt in ("csv", "tsv"):
        delimiter = "," if fmt == "csv" else "\t"
        rows = _table_rows(path, content, delimiter, text_column, label_column, bad)
    elif fmt == "jsonl":
        rows = _jsonl_rows(split_lines(content), text_column, label_column, bad)
    elif label_column is None:
        rows = [(n, "", line) for n, line in enumerate(split_lines(content), 1) if line.strip()]
    else:
        rows = _label_text_rows(split_lines(content), bad)
    bad.report()
    if not rows:
        dropped = f" ({len(bad.dropped)} unreadable lines dropped)" if bad.dropped else ""
        raise DataError(path, f"empty file: no examples{dropped}")
    return TextDataset(
        texts=[r[2] for r in rows],
        labels=[r[1] for r in rows],
        lines=[r[0] for r in rows],
        path=str(path),
        fingerprint=hashlib.sha256(raw).hexdigest(),
        dropped_lines=len(bad.dropped),
    )

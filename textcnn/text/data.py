"""Labelled text files: ``<label> <sentence>`` lines, CSV/TSV with a header, or JSONL.

Multi-label files (``multi_label``) give each text a set of labels, possibly empty: a JSON
list (``"labels": ["a", "b"]``), a CSV/TSV cell joined with ``label_separator`` (``a|b``), or
a label-text line's first field joined with commas (``a,b some text``).

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
from typing import Any

from textcnn.engine.config import option
from textcnn.errors import DataError

log = logging.getLogger(__name__)
FORMATS = ("auto", "label-text", "csv", "tsv", "jsonl")
BAD_LINES = ("error", "warn", "skip")  # pandas' on_bad_lines
SHOWN_BAD_LINES = 5
MULTI_SEPARATOR = "|"
MULTI_FIELD = "labels"  # the JSONL field of a multi-label set when `label_column` is absent
Label = str | tuple[str, ...]  # one label, or a multi-label set


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
    label_separator: str | None = option(
        None,
        "multi-label data: what joins the labels of one text (default: , in label-text "
        "lines, | in CSV/TSV cells and JSONL strings)",
        group="data",
    )
    multi_label: bool = False  # set by the training flag, or from the model being evaluated

    def separator(self, fmt: str) -> str:
        return self.label_separator or ("," if fmt == "label-text" else MULTI_SEPARATOR)


@dataclass
class TextDataset:
    """Texts and their labels; multi-label data also has ``label_sets`` (``labels`` then
    holds each set joined with commas: a key to stratify splits by)."""

    texts: list[str]
    labels: list[str]
    lines: list[int]
    path: str
    fingerprint: str
    dropped_lines: int = 0
    label_sets: list[tuple[str, ...]] | None = None

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
            None if self.label_sets is None else [self.label_sets[i] for i in indices],
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


def split_labels(value: str, separator: str) -> tuple[str, ...]:
    """The distinct non-empty labels of ``value`` joined by ``separator``, sorted."""
    return tuple(sorted({part.strip() for part in value.split(separator)} - {""}))


def _label_text_rows(
    lines: list[str], bad: BadLines, separator: str | None
) -> list[tuple[int, Label, str]]:
    rows: list[tuple[int, Label, str]] = []
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
        rows.append((number, label if separator is None else split_labels(label, separator), text))
    return rows


def _table_rows(
    path: Path,
    content: str,
    delimiter: str,
    text_column: str,
    label_column: str | None,
    bad: BadLines,
    separator: str | None = None,
) -> list[tuple[int, Label, str]]:
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
    rows: list[tuple[int, Label, str]] = []
    try:
        for record in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                bad(f"expected {len(header)} fields like the header, found {len(record)}", number)
                continue
            label = record[label_at].strip() if label_at is not None else ""
            if label_at is not None and separator is not None:  # an empty cell: no label
                rows.append((number, split_labels(label, separator), record[text_at]))
                continue
            if label_at is not None and not label:
                bad(f"missing label in column {label_column!r}", number)
                continue
            rows.append((number, label, record[text_at]))
    except csv.Error as exc:  # an unclosed quote runs on to the end of the file, say
        raise DataError(path, f"unreadable CSV from here on: {exc}", reader.line_num) from None
    return rows


def _is_label(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def _jsonl_label_set(value: Any, separator: str) -> tuple[str, ...] | str:
    """A multi-label record's labels: a list (maybe empty) or a joined string."""
    if isinstance(value, str):
        return split_labels(value, separator)
    if isinstance(value, list) and all(_is_label(v) for v in value):
        return tuple(sorted({str(v).strip() for v in value} - {""}))
    return f"labels must be a list of strings or integers: {value!r}"


def _jsonl_record(
    line: str, text_column: str, label_column: str | None, separator: str | None = None
) -> tuple[Label, str] | str:
    """``(label, text)`` of one JSON line, or the reason it cannot be read.

    Multi-label (a ``separator``): the labels are ``label_column``'s value, or when a record
    has no such field, its ``labels`` field.
    """
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
    if separator is not None:
        value = record.get(MULTI_FIELD) if value is None else value
        if value is None:
            return f"missing labels {label_column!r} (or {MULTI_FIELD!r}; [] for none)"
        labels = _jsonl_label_set(value, separator)
        return labels if isinstance(labels, str) else (labels, text)
    if isinstance(value, list) or (value is None and isinstance(record.get(MULTI_FIELD), list)):
        return "a list of labels: multi-label data needs `multi_label`"
    if value is None or (isinstance(value, str) and not value.strip()):
        return f"missing label {label_column!r}"
    if not _is_label(value):
        return f"label must be a string or an integer: {value!r}"
    return str(value).strip(), text


def _jsonl_rows(
    lines: list[str],
    text_column: str,
    label_column: str | None,
    bad: BadLines,
    separator: str | None = None,
) -> list[tuple[int, Label, str]]:
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parsed = _jsonl_record(line, text_column, label_column, separator)
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
    separator: str | None = None,
) -> TextDataset:
    """Read a labelled file (or an unlabelled one with ``label_column=None``).

    ``on_bad_lines`` (pandas' meaning): ``error`` stops at the first unreadable line with its
    number; ``warn`` drops such lines and logs how many, with the first few; ``skip`` drops them.
    ``separator``: read label sets (multi-label data), joined by it in label-text lines, CSV/TSV
    cells and JSONL strings (``TextReadOptions.separator`` gives each format's usual one).
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
        rows = _table_rows(path, content, delimiter, text_column, label_column, bad, separator)
    elif fmt == "jsonl":
        rows = _jsonl_rows(split_lines(content), text_column, label_column, bad, separator)
    elif label_column is None:
        rows = [(n, "", line) for n, line in enumerate(split_lines(content), 1) if line.strip()]
    else:
        rows = _label_text_rows(split_lines(content), bad, separator)
    bad.report()
    if not rows:
        dropped = f" ({len(bad.dropped)} unreadable lines dropped)" if bad.dropped else ""
        raise DataError(path, f"empty file: no examples{dropped}")
    multi = separator is not None and label_column is not None
    sets = [r[1] for r in rows] if multi else None
    return TextDataset(
        texts=[r[2] for r in rows],
        labels=[",".join(r[1]) for r in rows] if multi else [str(r[1]) for r in rows],
        lines=[r[0] for r in rows],
        path=str(path),
        fingerprint=hashlib.sha256(raw).hexdigest(),
        dropped_lines=len(bad.dropped),
        label_sets=sets,  # type: ignore[arg-type]
    )

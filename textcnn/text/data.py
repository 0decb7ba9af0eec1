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


@dataclass
class TextDataset:
    texts: list[str]
    labels: list[str]
    lines: list[int]
    path: str
    fingerprint: str

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


def _label_text_rows(path: Path, lines: list[str]) -> list[tuple[int, str, str]]:
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line[0].isspace():
            raise DataError(path, "missing label: the line starts with whitespace", number)
        label, _, text = line.partition(_first_blank(line))
        if not text.strip():
            raise DataError(path, f"missing text after label {label!r}", number)
        rows.append((number, label, text))
    return rows


def _table_rows(
    path: Path, content: str, delimiter: str, text_column: str, label_column: str | None
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
    for record in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            raise DataError(
                path, f"expected {len(header)} fields like the header, found {len(record)}", number
            )
        label = record[label_at].strip() if label_at is not None else ""
        if label_at is not None and not label:
            raise DataError(path, f"missing label in column {label_column!r}", number)
        rows.append((number, label, record[text_at]))
    return rows


def _jsonl_rows(
    path: Path, lines: list[str], text_column: str, label_column: str | None
) -> list[tuple[int, str, str]]:
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"invalid JSON: {exc.msg}", number) from None
        if not isinstance(record, dict):
            raise DataError(path, "each line must be a JSON object", number)
        text = record.get(text_column)
        if not isinstance(text, str):
            raise DataError(path, f"missing or non-string {text_column!r}", number)
        label = ""
        if label_column:
            value = record.get(label_column)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise DataError(path, f"missing label {label_column!r}", number)
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise DataError(path, f"label must be a string or an integer: {value!r}", number)
            label = str(value).strip()
        rows.append((number, label, text))
    return rows


def read_text_dataset(
    path: str | Path,
    fmt: str = TextReadOptions.format,
    text_column: str = TextReadOptions.text_column,
    label_column: str | None = TextReadOptions.label_column,
) -> TextDataset:
    """Read a labelled file (or an unlabelled one with ``label_column=None``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such file")
    raw = path.read_bytes()
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise DataError(path, f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    content = decode_bytes(raw, path)
    if fmt in ("csv", "tsv"):
        delimiter = "," if fmt == "csv" else "\t"
        rows = _table_rows(path, content, delimiter, text_column, label_column)
    elif fmt == "jsonl":
        rows = _jsonl_rows(path, split_lines(content), text_column, label_column)
    elif label_column is None:
        rows = [(n, "", line) for n, line in enumerate(split_lines(content), 1) if line.strip()]
    else:
        rows = _label_text_rows(path, split_lines(content))
    if not rows:
        raise DataError(path, "empty file: no examples")
    return TextDataset(
        texts=[r[2] for r in rows],
        labels=[r[1] for r in rows],
        lines=[r[0] for r in rows],
        path=str(path),
        fingerprint=hashlib.sha256(raw).hexdigest(),
    )

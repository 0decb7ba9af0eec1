"""Reading a report page back: its figures and the numbers it shows."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.numbers: dict[str, str] = {}
        self._key: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes["src"] or "")
        self._key = attributes.get("data-key")

    def handle_data(self, data: str) -> None:
        if self._key is not None:
            self.numbers[self._key] = data
            self._key = None


def read_page(html: str) -> tuple[list[str], dict[str, str]]:
    """The ``src`` of every image and the text of every ``data-key`` element, by key."""
    page = _Page()
    page.feed(html)
    return page.images, page.numbers


def open_png(src: str, root: Path | None = None) -> Image.Image:
    """The PNG an image ``src`` names (a file under ``root``, or a data URI), verified."""
    prefix = "data:image/png;base64,"
    data = base64.b64decode(src[len(prefix) :]) if src.startswith(prefix) else None
    if data is None:
        assert root is not None and (root / src).is_file(), f"{src}: no such figure"
        data = (root / src).read_bytes()
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.verify()
    return image


def assert_numbers_match(numbers: dict[str, str], metrics: dict) -> None:
    """Every number of ``textcnn evaluate``'s JSON is on the page, as the page rounds it."""
    assert numbers["accuracy"] == f"{metrics['accuracy']:.4f}"
    assert numbers["macro_f1"] == f"{metrics['macro_f1']:.4f}"
    assert numbers["examples"] == str(metrics["examples"])
    for label, scores in metrics["per_class"].items():
        for name in ("precision", "recall", "f1"):
            assert numbers[f"per_class.{label}.{name}"] == f"{scores[name]:.4f}"
        assert numbers[f"per_class.{label}.support"] == str(scores["support"])
    for i, row in enumerate(metrics["confusion_matrix"]):
        for j, count in enumerate(row):
            assert numbers[f"confusion.{i}.{j}"] == str(count)

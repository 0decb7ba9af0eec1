"""An image model's report: the same figures and numbers, mistakes as thumbnails."""

from __future__ import annotations

from pathlib import Path

from tests.report.pages import assert_numbers_match, open_png, read_page
from textcnn.engine.bundle import Bundle
from textcnn.engine.predictor import Predictor
from textcnn.image.data import read_image_dataset
from textcnn.report import Report, evaluation_record


def test_an_image_report_has_figures_and_no_ngrams(
    image_bundle: Bundle, shapes: Path, tmp_path: Path
) -> None:
    record = image_bundle.extra["evaluation"]
    assert record["metrics"] == image_bundle.metrics["test"]
    assert "ngrams" not in record
    # test images labelled as the next class: mistakes, shown as thumbnails
    data = read_image_dataset(shapes / "test")
    labels = image_bundle.labels
    data.labels = [labels[(labels.index(label) + 1) % len(labels)] for label in data.labels]
    record = evaluation_record(Predictor(image_bundle), data)
    assert record["mistakes"] and all("image" in m for m in record["mistakes"])
    page = Report.of_bundle(image_bundle, "shapes", record).write(tmp_path / "report")
    images, numbers = read_page(page.read_text(encoding="utf-8"))
    for src in images:
        open_png(src, tmp_path / "report")
    assert len([s for s in images if "mistake-" in s]) == len(record["mistakes"])
    assert_numbers_match(numbers, record["metrics"])
    assert "N-grams" not in page.read_text(encoding="utf-8")

"""Evaluation reports: ``textcnn evaluate --report`` and ``textcnn models show --report``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.report.pages import assert_numbers_match, open_png, read_page
from textcnn.cli import main
from textcnn.engine.bundle import Bundle, load_bundle
from textcnn.engine.calibration import calibration
from textcnn.report import EVALUATION_KEY
from textcnn.report.page import Report
from textcnn.store import LocalStore


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(["-q", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def check_report(directory: Path) -> tuple[list[str], dict[str, str], str]:
    """The report's figures (all checked to be PNGs) and numbers, and its text."""
    html = (directory / "index.html").read_text(encoding="utf-8")
    images, numbers = read_page(html)
    for src in images:
        open_png(src, directory)
    return images, numbers, html


def test_calibration_bins_and_expected_error() -> None:
    confidence = torch.tensor([0.95, 0.95, 0.55, 0.55, 0.05])
    correct = torch.tensor([True, False, True, True, False])
    result = calibration(confidence, correct, bins=10)
    counts = [b["count"] for b in result["bins"]]
    assert counts == [1, 0, 0, 0, 0, 2, 0, 0, 0, 2]
    assert result["bins"][9]["accuracy"] == pytest.approx(0.5)
    # gaps .45 (2 of 5), .45 (2 of 5) and .05 (1 of 5)
    assert result["ece"] == pytest.approx(0.4 * 0.45 + 0.4 * 0.45 + 0.2 * 0.05)


def test_evaluate_writes_a_report_matching_its_json(
    text_bundle_dir: Path,
    keyword_files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    args = ["evaluate", "--model", str(text_bundle_dir), "--data", str(keyword_files["test"])]
    code, plain, _ = run(capsys, *args)
    assert code == 0
    code, out, _ = run(capsys, *args, "--report", str(tmp_path / "report"))
    assert code == 0 and json.loads(out) == json.loads(plain)
    images, numbers, html = check_report(tmp_path / "report")
    assert {"figures/confusion.png", "figures/reliability.png", "figures/training.png"} <= set(
        images
    )
    assert_numbers_match(numbers, json.loads(plain))
    assert 0 <= float(numbers["ece"]) <= 1
    assert "N-grams that decide each class" in html


def test_the_stored_evaluation_is_the_test_report(text_bundle: Bundle) -> None:
    record = text_bundle.extra[EVALUATION_KEY]
    assert record["split"] == "test"
    assert record["metrics"] == text_bundle.metrics["test"]
    wrong = sum(
        n
        for i, row in enumerate(record["metrics"]["confusion_matrix"])
        for j, n in enumerate(row)
        if i != j
    )
    assert len(record["mistakes"]) == min(wrong, 12)
    confidences = [m["confidence"] for m in record["mistakes"]]
    assert confidences == sorted(confidences, reverse=True)
    for mistake in record["mistakes"]:
        assert mistake["label"] != mistake["predicted"]
        assert mistake["explanation"]["tokens"]
    assert set(record["ngrams"]) <= set(text_bundle.labels)


def test_models_show_reports_a_registry_version(
    text_bundle: Bundle,
    keyword_files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    registry = LocalStore(tmp_path / "reg", create=True)
    registry.publish("text", text_bundle)
    show = ["models", "show", "--registry", str(registry.root), "--name", "text"]
    code, out, _ = run(capsys, *show, "--report", str(tmp_path / "stored"))
    assert code == 0 and json.loads(out)["report"] == str(tmp_path / "stored" / "index.html")
    _, numbers, html = check_report(tmp_path / "stored")
    assert_numbers_match(numbers, text_bundle.metrics["test"])
    assert "text v1" in html

    # a bundle from before reports: no stored evaluation, no history
    old = load_bundle(registry.version_dir("text", "v1"))
    del old.extra[EVALUATION_KEY]
    old.training.pop("result")
    registry.publish("text", old)
    code, _, err = run(capsys, *show, "--report", str(tmp_path / "none"))
    assert code == 2 and "stores no evaluation" in err and "--data" in err
    data = ["--data", str(keyword_files["test"])]
    code, out, _ = run(capsys, *show, "--report", str(tmp_path / "old"), *data)
    assert code == 0
    images, numbers, html = check_report(tmp_path / "old")
    assert "figures/training.png" not in images
    assert "no per-epoch training history" in html
    code, plain, _ = run(
        capsys, "evaluate", "--registry", str(registry.root), "--name", "text", *data
    )
    assert_numbers_match(numbers, json.loads(plain))
    code, _, err = run(capsys, *show, *data)
    assert code == 2 and "--report" in err


def test_the_page_shows_the_calibration_error_before_and_after_the_temperature(
    text_bundle: Bundle,
) -> None:
    record = json.loads(json.dumps(text_bundle.extra[EVALUATION_KEY]))
    record["calibration"].update(ece=0.0123, ece_before=0.1171, temperature=1.8)
    _, numbers = read_page(Report.of_bundle(text_bundle, "t", record).html(lambda name: name))
    assert (numbers["ece"], numbers["ece_before"], numbers["temperature"]) == (
        "0.0123",
        "0.1171",
        "1.800",
    )
    for key in ("ece_before", "temperature"):  # a record stored before temperatures
        del record["calibration"][key]
    _, numbers = read_page(Report.of_bundle(text_bundle, "t", record).html(lambda name: name))
    assert numbers["ece"] == "0.0123" and "ece_before" not in numbers

"""``textcnn train --multi-label`` on a CSV, then evaluate, predict and retrain."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.cli.test_text_cli import QUIET, SMALL, run
from tests.conftest import make_multilabel_examples


def write_csv(path: Path, rows: list[tuple[list[str], str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["body", "tags"])
        writer.writerows([text, "|".join(labels)] for labels, text in rows)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ml-cli")
    return {
        "train": write_csv(root / "train.csv", make_multilabel_examples(300, seed=5)),
        "test": write_csv(root / "test.csv", make_multilabel_examples(60, seed=6)),
        "registry": root / "registry",
    }


COLUMNS = ["--text-column", "body", "--label-column", "tags"]


def test_train_evaluate_predict_retrain(files: dict[str, Path], capsys) -> None:
    registry = ["--registry", str(files["registry"]), "--name", "tags"]
    code, out, _ = run(capsys, "train", "--data", str(files["train"]), "--test",
                       str(files["test"]), "--multi-label", "--epochs", "8", "--batch-size",
                       "20", *COLUMNS, *SMALL, *QUIET, *registry)  # fmt: skip
    assert code == 0
    summary = json.loads(out)
    assert summary["test_micro_f1"] > 0.9 and "dev_micro_f1" in summary

    code, out, _ = run(capsys, "evaluate", *registry, "--data", str(files["test"]), *COLUMNS)
    report = json.loads(out)
    assert code == 0 and report["micro_f1"] == summary["test_micro_f1"]
    assert {"macro_f1", "samples_f1", "subset_accuracy", "hamming_loss"} <= set(report)
    assert report["no_label"]["gold"] == 10

    code, out, _ = run(capsys, "evaluate", *registry, "--data", str(files["test"]), *COLUMNS,
                       "--threshold", "0")  # fmt: skip
    assert json.loads(out)["no_label"]["predicted"] == 0

    code, out, _ = run(capsys, "predict", *registry, "why so awful", "the film")
    first, second = map(json.loads, out.splitlines())
    assert set(first["labels"]) == {"question", "negative"} and second["labels"] == []
    code, out, _ = run(capsys, "predict", *registry, "the film", "--threshold", "0")
    assert len(json.loads(out)["labels"]) == 3

    code, out, _ = run(capsys, "retrain", *registry, "--data", str(files["test"]), *COLUMNS,
                       "--from-version", "v1", "--epochs", "2", "--force", *QUIET)  # fmt: skip
    assert code == 0 and json.loads(out.splitlines()[-1])["multi_label"] is True


def test_flags_that_need_multi_label(files: dict[str, Path], capsys, tmp_path: Path) -> None:
    code, _, err = run(capsys, "train", "--data", str(files["train"]), *COLUMNS,
                       "--label-separator", ";", "--out", str(tmp_path / "m"))  # fmt: skip
    assert code == 2 and "add --multi-label" in err
    code, _, err = run(capsys, "train", "--data", str(files["train"]), *COLUMNS,
                       "--threshold", "0.4", "--out", str(tmp_path / "m"))  # fmt: skip
    assert code == 2 and "--threshold applies to multi-label models: add --multi-label" in err

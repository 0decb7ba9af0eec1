import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_keyword_examples, write_jsonl, write_label_text
from textcnn.cli import FlagNames, as_flags, build_parser, command_flags, main
from textcnn.engine.config import TrainConfig
from textcnn.text.fold_parallel import unsupported

SMALL = ["--mode", "rand", "--dim", "24", "--feature-maps", "12"]
SMALL += ["--optimizer", "adam", "--lr", "0.01"]
QUIET = ["--no-progress", "--threads", "1"]


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(["-q", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    files = {
        "train": write_jsonl(root / "train.jsonl", make_keyword_examples(240, seed=5)),
        "test": write_label_text(root / "test.txt", make_keyword_examples(60, seed=6)),
        "model": root / "model",
    }
    code = main(
        ["-q", "train", "--data", str(files["train"]), "--test", str(files["test"]),
         "--epochs", "8", "--out", str(files["model"]), *SMALL, *QUIET]
    )  # fmt: skip
    assert code == 0
    return files


def test_train_writes_a_bundle(trained: dict[str, Path]) -> None:
    names = {p.name for p in trained["model"].iterdir()}
    assert {"config.json", "vocab.json", "model.safetensors"} <= names


def test_evaluate_prints_the_full_report(
    trained: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    code, out, _ = run(capsys, "evaluate", "--model", str(trained["model"]),
                       "--data", str(trained["test"]))  # fmt: skip
    report = json.loads(out)
    assert code == 0
    assert report["accuracy"] > 0.9
    assert set(report["per_class"]) == {"negative", "positive", "question"}
    assert {"precision", "recall", "f1", "support"} <= set(report["per_class"]["positive"])
    assert len(report["confusion_matrix"]) == 3
    assert 0 < report["macro_f1"] <= 1


def test_predict_from_arguments_file_and_stdin(
    trained: dict[str, Path], capsys: pytest.CaptureFixture, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    model = str(trained["model"])
    code, out, _ = run(capsys, "predict", "--model", model, "so wonderful", "how come")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [line["label"] for line in lines] == ["positive", "question"]
    assert len(lines[0]["scores"]) == 3
    inputs = tmp_path / "in.txt"
    inputs.write_text("dreadful day\n\nwhere is it\n")
    _, out, _ = run(capsys, "predict", "--model", model, "--input", str(inputs), "--top-k", "1")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(x["input"], x["label"], len(x["scores"])) for x in lines] == [
        ("dreadful day", "negative", 1),
        ("where is it", "question", 1),
    ]
    monkeypatch.setattr("sys.stdin", open(inputs))  # noqa: SIM115
    _, out, _ = run(capsys, "predict", "--model", model)
    assert len(out.splitlines()) == 2


def test_cross_validation_writes_cv_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = write_label_text(tmp_path / "d.txt", make_keyword_examples(120, seed=9))
    code, out, _ = run(capsys, "train", "--data", str(data), "--cv", "3", "--epochs", "2",
                       "--out", str(tmp_path / "m"), *SMALL, *QUIET)  # fmt: skip
    cv = json.loads((tmp_path / "m" / "cv.json").read_text())
    assert code == 0
    assert [f["fold"] for f in cv["folds"]] == [1, 2, 3]
    assert 0 <= cv["std_accuracy"] <= cv["mean_accuracy"] <= 1
    assert json.loads(out)["cv"]["mean_accuracy"] == cv["mean_accuracy"]
    assert cv["fold_parallel"] is False  # the CPU default: one by one
    code, _, _ = run(capsys, "train", "--data", str(data), "--cv", "3", "--epochs", "2",
                     "--cv-parallel", "--out", str(tmp_path / "p"), *SMALL, *QUIET)  # fmt: skip
    together = json.loads((tmp_path / "p" / "cv.json").read_text())
    assert code == 0 and together["fold_parallel"] is True
    assert [f["test_accuracy"] for f in together["folds"]] == [
        f["test_accuracy"] for f in cv["folds"]
    ]


def test_embeddings_train_then_static_training(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    corpus = write_label_text(tmp_path / "c.txt", make_keyword_examples(200, seed=3))
    vectors = tmp_path / "w2v.bin"
    code, out, _ = run(capsys, "embeddings", "train", "--corpus", str(corpus), "--labelled",
                       "--out", str(vectors), "--dim", "16", "--epochs", "2",
                       "--min-count", "1")  # fmt: skip
    assert code == 0
    assert json.loads(out)["dim"] == 16
    code, out, _ = run(capsys, "train", "--data", str(corpus), *SMALL, "--mode", "static",
                       "--embeddings", str(vectors), "--epochs", "1",
                       "--out", str(tmp_path / "m"), *QUIET)  # fmt: skip
    assert code == 0
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["model"]["mode"] == "static"
    assert config["model"]["dim"] == 16


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ("pos fine\n  oops\n", [], "train.txt:2: missing label"),
        ("pos fine\npos good\n", [], "only one class"),
        ("pos fine\nneg bad\n", ["--recipe", "kim2014", "--mode", "static"], "needs --embed"),
        ("pos fine\nneg bad\n", ["--embeddings", "/nope.bin", "--mode", "static"], "no such file"),
    ],
)
def test_bad_input_exits_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture, content: str, extra: list[str], message: str
) -> None:
    data = tmp_path / "train.txt"
    data.write_text(content)
    code, _, err = run(capsys, "train", "--data", str(data), "--out", str(tmp_path / "m"), *extra)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "m").exists()


def test_out_refuses_a_directory_that_is_not_a_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = write_label_text(tmp_path / "d.txt", make_keyword_examples(40, seed=2))
    precious = tmp_path / "work"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, "train", "--data", str(data), "--out", str(precious))
    assert exit_info.value.code == 2
    assert "is not a model bundle; refusing to overwrite it" in capsys.readouterr().err
    assert (precious / "notes.txt").read_text() == "keep me"


def test_dev_labels_are_checked_before_cross_validation(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = write_label_text(tmp_path / "d.txt", make_keyword_examples(60, seed=2))
    dev = tmp_path / "dev.txt"
    dev.write_text("positive fine\nsurprise what\n")
    code, _, err = run(capsys, "train", "--data", str(data), "--dev", str(dev), "--cv", "3",
                       "--out", str(tmp_path / "m"), *SMALL, *QUIET)  # fmt: skip
    assert code == 2
    assert "dev.txt:2: label 'surprise' never appears in the training data" in err


def test_too_many_folds_for_a_class_is_a_data_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "d.txt"
    data.write_text("a one\na two\na three\nb four\nb five\n")
    code, _, err = run(capsys, "train", "--data", str(data), "--cv", "3",
                       "--out", str(tmp_path / "m"), *SMALL, *QUIET)  # fmt: skip
    assert code == 2
    assert "class 'b' has 2 examples; 3-fold cross-validation needs at least 3" in err


def test_the_installed_entry_point_runs(trained: dict[str, Path]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "textcnn", "predict", "--model", str(trained["model"]), "great"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["label"] == "positive"


def test_missing_model_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run(capsys, "predict", "--model", str(tmp_path), "hi")
    assert code == 2
    assert "not a model bundle" in err


def test_library_messages_name_options_and_the_cli_shows_its_flags() -> None:
    """Library errors and log lines name options in backticks; the CLI shows each as the
    running command's flag, else as the flag of the command that has it (an export error
    names a training option)."""
    parser = build_parser()
    export = command_flags(parser, "export")
    assert export["sentence_encoder"] == "--sentence-encoder"  # ``train``'s
    assert as_flags("train without `sentence_encoder`", export).endswith("--sentence-encoder")
    reason = unsupported(TrainConfig(compile=True))
    assert reason == "`compile`"
    record = logging.LogRecord(
        "textcnn.text.train", logging.WARNING, __file__, 1, "not with %s", (reason,), None
    )
    assert FlagNames(command_flags(parser, "train")).filter(record)
    assert record.getMessage() == "not with --compile"

"""``on_bad_lines`` (pandas' meaning) for every text format, and the CLI's ``--on-bad-lines``."""

import json
import logging
from pathlib import Path

import pytest

from tests.conftest import make_keyword_examples, write_label_text
from textcnn.cli import main
from textcnn.errors import DataError
from textcnn.text.data import read_text_dataset

# Each file: two good examples around one unreadable line (line 2), per format.
FILES = {
    "d.txt": "pos great film\nneg\npos loved it\n",
    "d.csv": 'text,label\nawful,neg\n"only text"\nsuperb,pos\n',
    "d.jsonl": '{"text": "awful", "label": "neg"}\n{"text": "x"\n{"text": "good", "label": "p"}\n',
}
BAD_LINE = {"d.txt": 2, "d.csv": 3, "d.jsonl": 2}


@pytest.mark.parametrize("name", FILES)
def test_error_names_the_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(FILES[name])
    with pytest.raises(DataError) as info:
        read_text_dataset(path)
    assert info.value.line == BAD_LINE[name] and info.value.bad_line
    assert f"{path}:{BAD_LINE[name]}" in str(info.value)


@pytest.mark.parametrize("name", FILES)
def test_warn_drops_and_reports_the_lines(
    tmp_path: Path, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / name
    path.write_text(FILES[name])
    with caplog.at_level(logging.INFO):
        data = read_text_dataset(path, on_bad_lines="warn")
    assert len(data) == 2 and data.dropped_lines == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"dropped 1 unreadable lines (line {BAD_LINE[name]}:" in m for m in warnings)


@pytest.mark.parametrize("name", FILES)
def test_skip_drops_quietly(tmp_path: Path, name: str, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / name
    path.write_text(FILES[name])
    with caplog.at_level(logging.INFO):
        data = read_text_dataset(path, on_bad_lines="skip")
    assert len(data) == 2 and data.dropped_lines == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("skipped 1 unreadable lines" in r.getMessage() for r in caplog.records)


def test_warn_shows_the_first_few(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "many.txt"
    path.write_text("pos fine\n" + "neg\n" * 8)
    with caplog.at_level(logging.WARNING):
        data = read_text_dataset(path, on_bad_lines="warn")
    assert data.dropped_lines == 8
    message = caplog.records[-1].getMessage()
    assert "line 6:" in message and "line 7:" not in message and "and 3 more" in message


def test_a_file_of_only_bad_lines_is_still_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("neg\npos\n")
    with pytest.raises(DataError, match="no examples .2 unreadable lines dropped"):
        read_text_dataset(path, on_bad_lines="skip")


def test_file_level_errors_are_not_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("body,label\nx,1\n")
    with pytest.raises(DataError, match="unknown column") as info:
        read_text_dataset(path, on_bad_lines="skip")
    assert not info.value.bad_line


def test_cli_names_the_flag_and_records_the_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_label_text(tmp_path / "train.txt", make_keyword_examples(120))
    path.write_text(path.read_text() + "positive\n" * 4)
    common = ["train", "--data", str(path), "--mode", "rand", "--dim", "16", "--epochs", "1"]
    common += ["--threads", "1", "--no-progress", "--feature-maps", "4"]
    assert main([*common, "--out", str(tmp_path / "m1")]) == 2
    err = capsys.readouterr().err
    assert "train.txt:121: missing text" in err and "--on-bad-lines warn or skip" in err
    for policy in ("warn", "skip"):
        out = tmp_path / f"m-{policy}"
        assert main([*common, "--on-bad-lines", policy, "--out", str(out)]) == 0
        config = json.loads((out / "config.json").read_text())
        assert config["training"]["dropped_lines"] == 4
    evaluate = ["evaluate", "--model", str(tmp_path / "m-skip"), "--data", str(path)]
    assert main(evaluate) == 2
    assert main([*evaluate, "--on-bad-lines", "skip"]) == 0
    cv = [*common, "--on-bad-lines", "skip", "--cv", "2", "--out", str(tmp_path / "m-cv")]
    assert main(cv) == 0

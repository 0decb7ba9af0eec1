import logging
from pathlib import Path

import pytest

from textcnn.engine.splits import check_labels, sort_labels
from textcnn.errors import DataError
from textcnn.text.data import read_text_dataset
from textcnn.text.train import TextTrainOptions, train_text


def test_label_text_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.txt"
    path.write_text("1 good movie\n\n0 bad\tmovie\r\n")
    data = read_text_dataset(path)
    assert data.labels == ["1", "0"]
    assert data.texts == ["good movie", "bad\tmovie"]
    assert data.lines == [1, 3]


def test_a_tab_after_the_label_separates_it_and_a_bom_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "d.txt"
    path.write_bytes("\ufeffpos\tgreat movie\nneg bad\n".encode())
    data = read_text_dataset(path)
    assert (data.labels, data.texts) == (["pos", "neg"], ["great movie", "bad"])
    csv_path = tmp_path / "d.csv"
    csv_path.write_bytes("\ufefftext,label\nhi,1\n".encode())
    assert read_text_dataset(csv_path).texts == ["hi"]


def test_latin1_fallback_warns_once_and_u0085_is_not_a_line_break(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "mr.txt"
    path.write_bytes("1 caf\xe9 ok\n0 a\x85b\n".encode("latin-1"))
    with caplog.at_level(logging.WARNING):
        data = read_text_dataset(path)
    assert data.texts == ["café ok", "a\x85b"]
    assert len(data) == 2
    assert sum("latin-1" in r.message for r in caplog.records) == 1


def test_csv_and_tsv_with_named_columns(tmp_path: Path) -> None:
    csv_path = tmp_path / "d.csv"
    csv_path.write_text('id,body,intent\n1,"hello, there",greet\n2,bye,leave\n')
    data = read_text_dataset(csv_path, text_column="body", label_column="intent")
    assert data.texts == ["hello, there", "bye"]
    assert data.labels == ["greet", "leave"]
    tsv_path = tmp_path / "d.tsv"
    tsv_path.write_text("text\tlabel\nhi there\t1\n")
    assert read_text_dataset(tsv_path).labels == ["1"]


def test_jsonl_accepts_string_and_integer_labels(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": 3}\n{"text": "b", "label": "x"}\n')
    assert read_text_dataset(path).labels == ["3", "x"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.txt", "1 fine\n   no label here\n", r"a\.txt:2: missing label"),
        ("b.txt", "1 fine\n0\n", r"b\.txt:2: missing text after label '0'"),
        ("c.txt", "\n\n", r"c\.txt: empty file"),
        ("d.csv", "text,label\nhi,1\n", r"d\.csv:1: unknown column 'intent'"),
        ("e.csv", "text,intent\nhi,1\nthere,\n", r"e\.csv:3: missing label"),
        ("f.jsonl", '{"text": "a", "intent": 1}\n{"text": "b"}\n', r"f\.jsonl:2: missing label"),
        ("g.jsonl", '{"text": "a", "intent": 1}\nnot json\n', r"g\.jsonl:2: invalid JSON"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    label_column = "intent" if name[0] in "defg" else "label"
    with pytest.raises(DataError, match=message):
        read_text_dataset(path, label_column=label_column)


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_text_dataset(tmp_path / "nope.txt")


def test_single_class_fails_before_training(tmp_path: Path) -> None:
    path = tmp_path / "one.txt"
    path.write_text("pos good\npos great\n")
    with pytest.raises(DataError, match=r"one\.txt: only one class \('pos'\)"):
        train_text(read_text_dataset(path), TextTrainOptions())


def test_unseen_dev_label_is_reported_with_its_line(tmp_path: Path) -> None:
    train = tmp_path / "train.txt"
    train.write_text("pos good\nneg bad\n")
    dev = tmp_path / "dev.txt"
    dev.write_text("pos fine\nmaybe hmm\n")
    with pytest.raises(DataError, match=r"dev\.txt:2: label 'maybe' never appears"):
        train_text(read_text_dataset(train), TextTrainOptions(), dev=read_text_dataset(dev))


def test_labels_sort_numerically_when_integers() -> None:
    assert sort_labels(["10", "2", "1", "2"]) == ["1", "2", "10"]
    assert sort_labels(["b", "a"]) == ["a", "b"]


def test_check_labels_passes_known_labels_and_names_the_first_unknown(tmp_path: Path) -> None:
    path = tmp_path / "d.txt"
    path.write_text("a x\nb y\nc z\n")
    data = read_text_dataset(path)
    assert check_labels(data, ["a", "b", "c"]) is None
    with pytest.raises(DataError, match=r"d\.txt:2: label 'b' never appears .*known labels: a\)"):
        check_labels(data, ["a"])

from pathlib import Path

import pytest

from textcnn.text.vocab import PAD, UNK, Vocab


def test_build_orders_by_frequency_and_applies_limits() -> None:
    vocab = Vocab.build([["b", "a", "b"], ["c", "b", "a"]], min_count=2)
    assert vocab.itos == [PAD, UNK, "b", "a"]
    assert Vocab.build([["b", "a", "b"]], max_size=3).itos == [PAD, UNK, "b"]


def test_unknown_words_map_to_unk() -> None:
    vocab = Vocab.build([["hello"]])
    assert vocab.ids(["hello", "nope"]) == [2, 1]


def test_extend_keeps_existing_ids() -> None:
    vocab = Vocab.build([["x", "y"]])
    bigger = vocab.extend(["y", "z", "z"])
    assert bigger.itos[: len(vocab)] == vocab.itos
    assert bigger.itos[len(vocab) :] == ["z"]


def test_round_trip(tmp_path: Path) -> None:
    vocab = Vocab.build([["über", "naïve", "日本"]])
    vocab.save(tmp_path / "v.json")
    assert Vocab.load(tmp_path / "v.json").itos == vocab.itos


def test_load_rejects_malformed(tmp_path: Path) -> None:
    (tmp_path / "v.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match="JSON list"):
        Vocab.load(tmp_path / "v.json")
    with pytest.raises(ValueError, match="starts with"):
        Vocab(["a", "b"])

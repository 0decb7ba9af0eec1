"""The sentence encoder's term beside the CNN (``--sentence-encoder minilm``): its fit, weight
and gate on dev data, the predictions it changes, bundles, and what refuses it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from textcnn.engine.bundle import Bundle, load_bundle
from textcnn.engine.predictor import Predictor
from textcnn.engine.trainer import TrainConfig
from textcnn.errors import ExportError, TextCNNError
from textcnn.export import export_onnx
from textcnn.models.sentence_term import routed
from textcnn.text import sentence_term
from textcnn.text.data import read_text_dataset
from textcnn.text.embedding_cache import EmbeddingCache
from textcnn.text.sentence_term import GATES, WEIGHTS, embed_sentences
from textcnn.text.train import TextTrainOptions, train_text

TEXTS = ["the food was superb", "a dreadful film", "where is the store", "!!!"]


def test_the_term_is_fitted_and_weighed_on_dev_data(sentence_bundle: Bundle) -> None:
    record = sentence_bundle.training["sentence_encoder"]
    assert record["encoder"] == "minilm" and record["weight"] in WEIGHTS
    assert record["weight"] > 0 and record["dev"] >= record["dev_without"] + 0.3
    # the crippled CNN is unsure of every text: the smallest gate already routes them all
    assert record["gate"] == GATES[0] and record["dev_encoded"] == 1.0
    assert float(sentence_bundle.model.input_term.gate) == pytest.approx(record["gate"])
    assert sentence_bundle.metrics["dev_accuracy"] == record["dev"]
    assert sentence_bundle.model_config.sentence_encoder == "minilm"


def test_predictions_add_the_weighted_log_probabilities(sentence_bundle: Bundle) -> None:
    predictor = Predictor(sentence_bundle)
    model, scores = sentence_bundle.model, sentence_bundle.model.input_term
    with torch.no_grad():
        network = model(sentence_bundle.processor.encode(TEXTS))
        term = scores.weight * torch.log_softmax(
            embed_sentences("minilm", TEXTS) @ scores.coef.T + scores.bias, dim=1
        )
    torch.testing.assert_close(predictor.predict_proba(TEXTS), (network + term).softmax(1))
    assert [p.label for p in predictor.predict(TEXTS[:3])] == ["positive", "negative", "question"]
    with pytest.raises(TextCNNError, match="raw inputs"):
        predictor.predict_encoded(predictor.encode(TEXTS))


def test_only_texts_the_network_is_unsure_of_are_encoded(
    sentence_bundle: Bundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the gate the network answers alone, and those texts never reach the encoder."""
    predictor = Predictor(sentence_bundle)
    scores = sentence_bundle.model.input_term
    with torch.no_grad():
        network = sentence_bundle.model(sentence_bundle.processor.encode(TEXTS))
    top = network.softmax(1).amax(1)
    gate = float(top.sort().values[1:3].mean())  # between the 2nd and 3rd most confident
    encoded: list[str] = []
    real = sentence_term.embed_sentences

    def counted(name: str, texts: list[str], runtime: str = "onnx") -> torch.Tensor:
        encoded.extend(texts)
        return real(name, texts, runtime=runtime)

    monkeypatch.setattr(sentence_term, "embed_sentences", counted)
    unsure = routed(network, gate)
    assert unsure.sum() == 2
    chosen = float(scores.gate)
    scores.gate.fill_(gate)
    try:
        proba = predictor.predict_proba(TEXTS)
    finally:
        scores.gate.fill_(chosen)  # the bundle is shared by other tests
    assert encoded == [t for t, u in zip(TEXTS, unsure.tolist(), strict=True) if u]
    torch.testing.assert_close(proba[~unsure], network[~unsure].softmax(1))
    assert not torch.allclose(proba[unsure], network[unsure].softmax(1))
    assert routed(network, 1.0).all() and not routed(network, 1.0, weight=0.0).any()


def test_a_bundle_round_trip_predicts_the_same(sentence_bundle: Bundle, tmp_path: Path) -> None:
    loaded = load_bundle(sentence_bundle.save(tmp_path / "m"))
    np.testing.assert_allclose(
        Predictor(loaded).predict_proba(TEXTS), Predictor(sentence_bundle).predict_proba(TEXTS)
    )
    torch.testing.assert_close(loaded.model.input_term.coef, sentence_bundle.model.input_term.coef)


def test_an_onnx_file_cannot_hold_the_term(sentence_bundle: Bundle, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="sentence encoder"):
        export_onnx(sentence_bundle, tmp_path / "m.onnx")


def test_embeddings_are_normalised_and_remembered_only_while_training(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = embed_sentences("minilm", [*TEXTS, TEXTS[0]])
    assert first.shape == (5, 1152) and embed_sentences("minilm", []).shape == (0, 1152)
    parts = first.view(5, len(sentence_term.LAYERS), 384)  # one unit vector per layer
    torch.testing.assert_close(parts.norm(dim=2), torch.ones(5, 3))
    torch.testing.assert_close(first[0], first[4])
    # the last layer's part is sentence-transformers' own embedding
    reference = sentence_term._sentence_encoder("minilm").encode(TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose(parts[:4, -1].numpy(), reference, atol=1e-5)
    encoded: list[int] = []  # how many texts each call to the real encoder got
    real = sentence_term.encode_layers

    def counted(
        name: str,
        texts: list[str],
        layers: tuple[int, ...],
        device: torch.device | None,
        runtime: str,
    ) -> np.ndarray:
        encoded.append(len(texts))
        return real(name, texts, layers, device, runtime)

    monkeypatch.setattr(sentence_term, "encode_layers", counted)
    monkeypatch.setattr(sentence_term, "SERVED", EmbeddingCache())  # no served cache
    with sentence_term.remembering():
        torch.testing.assert_close(embed_sentences("minilm", TEXTS[::-1]), first[:4].flip(0))
        embed_sentences("minilm", TEXTS[:2])  # remembered: not encoded again
    embed_sentences("minilm", TEXTS[:2])  # serving without its cache: encoded
    assert encoded == [4, 2] and not sentence_term._MEMO


def test_options_name_the_encoder_or_none() -> None:
    assert TextTrainOptions(sentence_encoder="none").sentence_encoder is None
    assert TextTrainOptions().sentence_encoder is None  # an option: it costs a forward a request
    with pytest.raises(TextCNNError, match="sentence_encoder"):
        TextTrainOptions(sentence_encoder="bert")
    with pytest.raises(TextCNNError, match="single-label"):
        TextTrainOptions(sentence_encoder="minilm", multi_label=True)


def test_the_warm_started_c_search_picks_what_cold_fits_pick() -> None:
    """``fit_regression`` walks each fold's C grid from one warm-started model; on a problem
    with a clear best C, it keeps the one ten cold fits a fold keep."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 20)).astype(np.float32)
    y = (x[:, :3].sum(1) + rng.normal(scale=2.0, size=300) > 0).astype(int)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    grid = sentence_term.C_GRID
    cold = {
        c: cross_val_score(LogisticRegression(C=c, max_iter=2000), x, y, cv=cv).mean() for c in grid
    }
    best = max(grid, key=lambda c: (cold[c], -c))
    assert best not in (grid[0], grid[-1])  # an inner optimum: the search has work to do
    chosen = sentence_term.fit_regression(x, y).C
    assert chosen == best


def test_threads_never_tokenize_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every sentence-encoder model of a process shares one fast tokenizer, in either runtime
    (PyTorch, ONNX Runtime), which is not thread-safe (tokenizers#537: "Already borrowed"
    when a call sets padding while another thread encodes; tokenizers 0.23 did not raise in
    300 tries here, so this watches for the overlap itself): concurrent encodes call it one
    at a time, and get the serial result."""
    texts = [f"text number {i} with some words" for i in range(12)]
    runtimes = ("pytorch", "onnx")
    expected = {
        r: sentence_term.encode_layers("minilm", texts, sentence_term.LAYERS, runtime=r)
        for r in runtimes
    }
    tokenizer_class = type(sentence_term._sentence_encoder("minilm").tokenizer)
    real_call = tokenizer_class.__call__
    counting = threading.Lock()
    inside, most = [0], [0]

    def watched(self: object, *args: object, **kwargs: object) -> object:
        with counting:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            time.sleep(0.005)  # a wider window than the real call's
            return real_call(self, *args, **kwargs)
        finally:
            with counting:
                inside[0] -= 1

    monkeypatch.setattr(tokenizer_class, "__call__", watched)
    results: list[tuple[str, np.ndarray]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def encode(runtime: str) -> None:
        start.wait()
        try:
            for _ in range(3):
                layers = sentence_term.LAYERS
                got = sentence_term.encode_layers("minilm", texts, layers, runtime=runtime)
                results.append((runtime, got))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=encode, args=(runtimes[i % 2],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 12
    assert most[0] == 1
    for runtime, got in results:
        np.testing.assert_allclose(got, expected[runtime], atol=1e-5)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_training_runs_the_encoder_on_the_training_device(
    device: str, keyword_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--device`` reaches the encoder that embeds the training and dev texts."""
    placed: list[str] = []
    real = sentence_term._sentence_encoder

    def recorded(name: str, device: str = "cpu") -> object:
        model = real(name, device)
        placed.append(str(next(model.parameters()).device.type))
        return model

    monkeypatch.setattr(sentence_term, "_sentence_encoder", recorded)
    train = TrainConfig(epochs=1, lr=1e-5, progress=False, seed=0, threads=1, device=device)
    opts = TextTrainOptions(
        mode="rand", dim=8, feature_maps=4, ngram_buckets=0, sentence_encoder="minilm", train=train
    )
    bundle = train_text(read_text_dataset(keyword_files["train"]), opts)
    assert placed and set(placed) == {device}
    assert bundle.training["sentence_encoder"]["dev"] >= 0.9

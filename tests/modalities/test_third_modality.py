"""A modality is one module: ``tests/modalities/rows.py`` adds rows of numbers, and the
same CLI, store, retrain and service code trains, saves, loads, predicts, retrains and serves
it."""

from __future__ import annotations

import importlib
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings
from textcnn.cli import main
from textcnn.engine import bundle as bundle_module
from textcnn.engine.bundle import load_bundle
from textcnn.errors import ExportError
from textcnn.export import export_onnx
from textcnn.modalities import list_modalities
from textcnn.modalities import registry as modality_registry
from textcnn.models import list_models
from textcnn.models import registry as model_registry
from textcnn.report import EVALUATION_KEY
from textcnn.store import LocalStore

PLUGIN = "tests.modalities.rows"


@pytest.fixture
def numbers(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The plug-in imported into copies of the registries, which are restored afterwards."""
    monkeypatch.setattr(modality_registry, "_MODALITIES", dict(modality_registry._MODALITIES))
    monkeypatch.setattr(bundle_module, "_PROCESSORS", dict(bundle_module._PROCESSORS))
    monkeypatch.setattr(model_registry, "_MODELS", dict(model_registry._MODELS))
    sys.modules.pop(PLUGIN, None)
    yield importlib.import_module(PLUGIN)
    sys.modules.pop(PLUGIN, None)


def write_rows(path: Path, n: int, seed: int) -> Path:
    """Rising rows are ``up``, falling rows ``down``."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        label, sign = ("up", 1) if i % 2 == 0 else ("down", -1)
        value, row = rng.uniform(-2, 2), []
        for _ in range(8):
            row.append(f"{value:.2f}")
            value += sign * rng.uniform(0.5, 1.0)
        lines.append(f"{label} {' '.join(row)}\n")
    path.write_text("".join(lines))
    return path


def row(start: float, step: float) -> str:
    return " ".join(f"{start + i * step:.2f}" for i in range(8))


UP, DOWN = row(-1, 0.75), row(2, -0.75)


def cli(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().out


def test_a_third_modality_goes_through_the_same_code(
    numbers: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert "numbers" in list_modalities() and list_models("numbers") == ["rowcnn"]
    train = write_rows(tmp_path / "train.txt", 80, seed=1)
    test = write_rows(tmp_path / "test.txt", 40, seed=2)
    registry = tmp_path / "registry"
    quiet = ["--device", "cpu", "--threads", "1", "--no-progress"]

    # train and save: a bundle directory, then a store version
    code, out = cli(capsys, "train-numbers", "--data", train, "--test", test, *quiet,
                    "--out", tmp_path / "bundle")  # fmt: skip
    assert code == 0 and json.loads(out)["test_accuracy"] >= 0.9
    bundle = load_bundle(tmp_path / "bundle")
    assert (bundle.modality, bundle.arch) == ("numbers", "rowcnn")
    # its own train stores the report's record; its mistakes show no item (no report_item)
    record = bundle.extra[EVALUATION_KEY]
    assert record["split"] == "test" and "ngrams" not in record
    assert not [m for m in record["mistakes"] if "text" in m or "image" in m]
    # it declares no export (``Modality.export``): the error names those that do
    with pytest.raises(ExportError, match="numbers models cannot be exported.*image, text"):
        export_onnx(bundle, tmp_path / "rows.onnx")
    code, _ = cli(capsys, "train-numbers", "--data", train, *quiet,
                  "--registry", registry, "--name", "rows")  # fmt: skip
    assert code == 0

    # load and predict, from Python and from the CLI
    version, predictor = LocalStore(registry).load("rows")
    assert version == "v1"
    assert [p.label for p in predictor.predict([UP, DOWN])] == ["up", "down"]
    code, out = cli(capsys, "predict", "--registry", registry, "--name", "rows", UP)
    assert code == 0 and json.loads(out)["label"] == "up"
    code, out = cli(capsys, "evaluate", "--model", tmp_path / "bundle", "--data", test)
    assert code == 0 and json.loads(out)["accuracy"] >= 0.9

    # retrain, warm-started, behind the gate
    code, out = cli(capsys, "retrain", "--registry", registry, "--name", "rows", "--data", test,
                    "--from-version", "v1", "--epochs", "2", "--no-progress")  # fmt: skip
    result = json.loads(out.splitlines()[-1])
    assert code in (0, 3) and result["warm_start"] == "v1" and result["candidate"] == "v2"
    assert LocalStore(registry).load_bundle("rows", "v2").training["options"]["maps"] == 8

    # serve: /classify takes rows as it takes texts; /models shows the modality's limits
    settings = Settings(registry=registry, reload_interval=0)
    with TestClient(create_app(settings)) as client:
        r = client.post("/classify", json={"texts": [DOWN], "model": "rows"})
        assert r.status_code == 200 and r.json()["results"][0]["label"] == "down"
        assert client.post("/classify", json={"text": "a b c", "model": "rows"}).status_code == 415
        (info,) = client.get("/models").json()["models"]
        assert info["modality"] == "numbers" and info["limits"]["max_numbers"] == 8
        assert client.get("/ready").status_code == 200

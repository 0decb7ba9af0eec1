"""The CLI: train/train-image into a registry, predict/evaluate from it, retrain, models."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from PIL import Image

from tests.registry.conftest import NAME, retrain_args
from textcnn.cli import main
from textcnn.retrain import EXIT_REFUSED
from textcnn.store import LocalStore

TINY = ["--mode", "rand", "--dim", "16", "--feature-maps", "8", "--epochs", "3"]
TINY += ["--batch-size", "20"]
TINY += ["--optimizer", "adam", "--lr", "0.01", "--threads", "1", "--no-progress"]


def cli(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def usage_error(capsys: pytest.CaptureFixture, *args: object) -> str:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    assert exc.value.code == 2
    return capsys.readouterr().err


def test_train_into_a_registry_then_predict_and_evaluate(capsys, tmp_path, kw_files) -> None:
    root = tmp_path / "new-registry"
    train = ["train", "--data", kw_files["train"], "--registry", root, "--name", NAME, *TINY]
    code, out, _ = cli(capsys, *train)
    assert code == 0
    assert json.loads(out)["model"] == str(root / NAME / "versions" / "v1")
    assert LocalStore(root).current(NAME) == "v1"
    assert cli(capsys, *train)[0] == 0
    assert LocalStore(root).current(NAME) == "v2"
    assert LocalStore(root).info(NAME, "v2").summary()["parent"] == "v1"  # the one it replaced

    source = ["--registry", root, "--name", NAME]
    code, out, _ = cli(capsys, "predict", *source, "what a great film", "why so")
    assert code == 0 and len(out.splitlines()) == 2
    code, out, _ = cli(capsys, "predict", *source, "--version", "v1", "an awful day")
    assert json.loads(out)["label"] in {"positive", "negative", "question"}
    code, out, _ = cli(capsys, "evaluate", *source, "--data", kw_files["test"])
    assert code == 0 and json.loads(out)["examples"] == 60
    code, out, _ = cli(capsys, "predict", "--model", root / NAME / "versions" / "v1", "hi")
    assert code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "{tmp}/b", "--registry", "{tmp}/r", "--name", "m"], "not allowed with"),
        (["--registry", "{tmp}/r"], "required: --name"),
        (["--out", "{tmp}/b", "--name", "m"], "required: --registry"),
        ([], "one of the arguments --out --registry is required"),
        (["--registry", "{tmp}/plain", "--name", "m"], "not a model registry"),
        (["--registry", "{tmp}/r", "--name", "../m"], "invalid model name"),
        (["--registry", "{tmp}/r", "--name", "m", "--keep", "0"], "expected a whole number >= 1"),
    ],
)
def test_train_takes_out_or_registry_with_name(capsys, tmp_path, args, message) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("not a registry")
    args = [a.format(tmp=tmp_path) for a in args]
    assert message in usage_error(capsys, "train", "--data", "x.txt", *args)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "{tmp}/b", "--version", "v1"], "required: --registry, --name"),
        (["--registry", "{tmp}/absent", "--name", "kw"], "no such registry directory"),
        (["--registry", "{reg}"], "required: --name"),
        ([], "one of the arguments --model --registry is required"),
    ],
)
def test_predict_takes_model_or_registry_with_name(capsys, registry, args, message) -> None:
    tmp = registry.root.parent
    args = [a.format(tmp=tmp, reg=registry.root) for a in args]
    assert message in usage_error(capsys, "predict", *args, "text")


def test_bad_registry_input_is_a_clear_error(capsys, registry, tmp_path) -> None:
    source = ["--registry", registry.root]
    code, _, err = cli(capsys, "predict", *source, "--name", "nope", "text")
    assert code == 2 and "unknown model 'nope'" in err
    code, _, err = cli(capsys, "models", "promote", *source, "--name", NAME, "--version", "v7")
    assert code == 2 and "unknown version 'v7'" in err
    (tmp_path / "empty").mkdir()
    assert "not a model registry" in usage_error(
        capsys, "models", "list", "--registry", tmp_path / "empty"
    )
    weights = registry.root / NAME / "versions" / "v1" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    code, _, err = cli(capsys, "predict", *source, "--name", NAME, "text")
    assert code == 2 and f"{weights}: checksum mismatch" in err
    code, out, _ = cli(capsys, "models", "show", *source, "--name", NAME)
    assert "checksum mismatch" in json.loads(out)["verified"]


def test_models_list_show_promote_rollback_prune(capsys, registry, kw_bundle) -> None:
    registry.publish(NAME, kw_bundle, parent="v1")
    source = ["--registry", registry.root, "--name", NAME]
    code, out, _ = cli(capsys, "models", "list", "--registry", registry.root)
    header, first, second = out.splitlines()
    assert header.split() == [
        "NAME",
        "VERSION",
        "MODALITY",
        "CREATED",
        "PARENT",
        "ACCURACY",
        "DATA",
    ]
    assert first.split()[:3] == ["kw", "v1", "text"]
    assert second.split()[:4] == ["kw", "v2", "*", "text"]
    assert "dev=" in second and kw_bundle.data_fingerprint[:12] in second
    code, out, _ = cli(capsys, "models", "list", *source, "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["version"], r["current"], r["parent"]) for r in rows] == [
        ("v1", False, None),
        ("v2", True, "v1"),
    ]
    code, out, _ = cli(capsys, "models", "show", *source, "--version", "v1")
    shown = json.loads(out)
    assert shown["verified"] is True and shown["options"]["dim"] == 16
    assert set(shown["files"]) == {"config.json", "vocab.json", "model.safetensors"}
    code, out, _ = cli(capsys, "models", "promote", *source, "--version", "v1")
    assert json.loads(out) == {"name": NAME, "current": "v1", "was": "v2"}
    code, out, _ = cli(capsys, "models", "rollback", *source)
    assert json.loads(out) == {"name": NAME, "current": "v2", "was": "v1"}
    code, out, _ = cli(capsys, "models", "prune", *source, "--keep", "1")
    assert json.loads(out)["pruned"] == []  # v1 is what the rollback replaced
    registry.publish(NAME, kw_bundle)
    code, out, _ = cli(capsys, "models", "prune", *source, "--keep", "1")
    assert json.loads(out)["pruned"] == ["v1"] and registry.version_ids(NAME) == ["v2", "v3"]


def test_retrain_prints_the_comparison_and_exits_by_the_gate(capsys, registry, kw_files) -> None:
    code, out, _ = cli(capsys, *retrain_args(registry, kw_files["new"], "--from-version", "v1"))
    *table, last = out.splitlines()
    assert code == 0 and registry.current(NAME) == "v2"
    assert table[0].split() == ["metric", "current", "v1", "candidate", "v2", "delta"]
    assert table[1].split()[0] == "accuracy" and table[2].split()[0] == "macro_f1"
    assert json.loads(last)["promoted"] is True

    worse = ["--dev", kw_files["test"], "--epochs", "1", "--lr", "1e-5"]
    code, out, _ = cli(capsys, *retrain_args(registry, kw_files["new"], *worse))
    result = json.loads(out.splitlines()[-1])
    assert code == EXIT_REFUSED and not result["promoted"]
    assert registry.current(NAME) == "v2" and registry.version_ids(NAME) == ["v1", "v2", "v3"]

    relabelled = kw_files["new"].parent / "relabelled.txt"
    relabelled.write_text(kw_files["new"].read_text().replace("question ", "greeting "))
    code, _, err = cli(capsys, *retrain_args(registry, relabelled))
    assert code == 2 and "not in the model: greeting" in err and "--force" in err
    assert registry.version_ids(NAME) == ["v1", "v2", "v3"]


def write_colour_images(root: Path) -> Path:
    rng = random.Random(0)
    for name, rgb in {"red": (200, 30, 30), "blue": (30, 40, 200)}.items():
        (root / name).mkdir(parents=True)
        for i in range(6):
            colour = tuple(min(255, max(0, c + rng.randint(-30, 30))) for c in rgb)
            Image.new("RGB", (16, 16), colour).save(root / name / f"{i}.png")
    return root


def test_text_and_image_models_share_a_registry(capsys, registry, tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTCNN_CACHE", str(tmp_path / "cache"))
    images = write_colour_images(tmp_path / "images")
    train = ["train-image", "--data", images, "--registry", registry.root, "--arch", "lenet5"]
    train += ["--width", "4", "--size", "16", "--epochs", "1", "--batch-size", "6", "--no-tta"]
    train += ["--no-flip", "--crop-padding", "0", "--threads", "1", "--no-progress"]
    train += ["--device", "cpu"]
    assert cli(capsys, *train, "--name", "colours")[0] == 0
    assert registry.names() == ["colours", NAME]
    assert registry.info("colours", "v1").summary()["modality"] == "image"
    code, out, _ = cli(
        capsys,
        "predict",
        "--registry",
        registry.root,
        "--name",
        "colours",
        images / "red" / "0.png",
    )
    assert code == 0 and json.loads(out)["label"] in {"red", "blue"}
    code, _, err = cli(capsys, *train, "--name", NAME)
    assert code == 2 and "holds text models" in err
    retrain = ["retrain", "--registry", registry.root, "--name", "colours", "--data", images]
    code, out, _ = cli(capsys, *retrain, "--from-version", "v1", "--force", "--epochs", "1")
    result = json.loads(out.splitlines()[-1])
    assert code == 0 and result["promoted"] and result["warm_start"] == "v1"
    assert result["gate"]["examples"] == 3  # 20% of the 12 images, rounded up
    assert registry.current("colours") == "v2"
    assert registry.info("colours", "v2").summary()["parent"] == "v1"
    assert registry.load_bundle("colours", "v2").training["options"]["arch"] == "lenet5"


def test_retrain_reads_data_with_the_bad_lines_policy(capsys, registry, kw_files, tmp_path) -> None:
    messy = tmp_path / "messy.txt"
    messy.write_text(kw_files["new"].read_text() + "positive\nnegative\n")
    code, _, err = cli(capsys, *retrain_args(registry, messy))
    assert code == 2 and "messy.txt:91: missing text" in err and "--on-bad-lines" in err
    code, out, _ = cli(capsys, *retrain_args(registry, messy, "--on-bad-lines", "skip"))
    assert code in (0, EXIT_REFUSED) and "promoted" in json.loads(out.splitlines()[-1])
    assert registry.version_ids(NAME) == ["v1", "v2"]
    training = registry.load_bundle(NAME, "v2").training
    assert training["dropped_lines"] == 2

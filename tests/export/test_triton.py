"""``textcnn export --format triton``: a Triton model repository whose layout, config.pbtxt
(parsed with Triton's own ModelConfig schema) and ONNX file agree with the export contract.
No Triton server runs here; onnxruntime (Triton's onnxruntime backend) runs the file with
the inputs the config declares."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from tests.export.test_onnx import spread, text_bundle
from textcnn.cli import main
from textcnn.engine.bundle import Bundle
from textcnn.engine.predictor import Predictor
from textcnn.export.consumer import ExportedModel
from textcnn.export.contract import OUTPUTS
from textcnn.export.triton import MAX_BATCH_SIZE
from textcnn.image.processor import ImageProcessor
from textcnn.models import create_model, make_config
from textcnn.store import LocalStore

ONNX_TYPES = {"tensor(int64)": "TYPE_INT64", "tensor(float)": "TYPE_FP32"}


def image_bundle() -> Bundle:
    config = make_config("lenet5", num_classes=4, input_size=16, width=4, hidden=(16,))
    processor = ImageProcessor(16, (0.4, 0.5, 0.6), (0.2, 0.25, 0.3))
    model = spread(create_model("lenet5", config), seed=1)
    return Bundle(model, "lenet5", config, processor, ["a", "b", "c", "d"])


def export(*args: str) -> tuple[int, dict[str, Any]]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = main(["export", "--format", "triton", *args])
    return status, json.loads(printed.getvalue()) if status == 0 else {}


def read_config(path: Path) -> Any:
    """config.pbtxt parsed as Triton parses it: an unknown field or value is an error."""
    return text_format.Parse(path.read_text(encoding="utf-8"), model_config_pb2.ModelConfig())


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("modality", ["text", "image"])
def test_the_repository_matches_the_contract_and_runs_in_onnxruntime(
    modality: str, tmp_path: Path
) -> None:
    bundle = text_bundle("non-static") if modality == "text" else image_bundle()
    store = LocalStore(tmp_path / "registry", create=True)
    store.publish("m", bundle)
    repository = tmp_path / "triton"
    status, summary = export("--registry", str(store.root), "--name", "m", "--out", str(repository))
    assert status == 0
    assert files(repository) == [
        "m/1/model.json", "m/1/model.onnx", "m/config.pbtxt", "m/labels.txt"
    ]  # fmt: skip
    assert summary["model"] == "m" and summary["version"] == 1
    contract = json.loads((repository / "m/1/model.json").read_text(encoding="utf-8"))
    config = read_config(repository / "m/config.pbtxt")
    assert config.name == "m" and config.backend == "onnxruntime"
    assert config.max_batch_size == MAX_BATCH_SIZE and config.HasField("dynamic_batching")
    assert config.version_policy.latest.num_versions == 1

    # the config's input and outputs are the contract's, batch axis left to max_batch_size
    [declared] = config.input
    spec = contract["input"]
    assert declared.name == spec["name"]
    dtype = model_config_pb2.DataType.Name(declared.data_type)
    assert dtype == {"int64": "TYPE_INT64", "float32": "TYPE_FP32"}[spec["dtype"]]
    assert spec["shape"][0] == "batch"
    assert list(declared.dims) == [-1 if isinstance(a, str) else a for a in spec["shape"][1:]]
    assert [o.name for o in config.output] == list(OUTPUTS)
    for output in config.output:
        assert model_config_pb2.DataType.Name(output.data_type) == "TYPE_FP32"
        assert list(output.dims) == [len(contract["labels"])]
    labels = (repository / "m" / config.output[1].label_filename).read_text().splitlines()
    assert labels == contract["labels"] == bundle.labels

    # ...and the ONNX file's, as onnxruntime (Triton's backend) reads them
    session = ort.InferenceSession(str(repository / "m/1/model.onnx"))
    [onnx_input] = session.get_inputs()
    assert onnx_input.name == declared.name and ONNX_TYPES[onnx_input.type] == dtype
    assert len(onnx_input.shape) == 1 + len(declared.dims)
    for size, dim in zip(onnx_input.shape[1:], declared.dims, strict=True):
        assert size == dim or (dim == -1 and isinstance(size, str))
    assert [o.name for o in session.get_outputs()] == [o.name for o in config.output]

    # a batch shaped by the config (3 requests, any length where a dim is -1) runs, and gives
    # the Predictor's probabilities on the same inputs
    rng = np.random.default_rng(0)
    if modality == "text":
        vocab = len(contract["preprocessing"]["vocab"])
        batch = rng.integers(0, vocab, (3, 7)).astype(np.int64)
        expected = Predictor(bundle).logits_from_tensor(torch.from_numpy(batch)).softmax(1)
    else:
        pixels = rng.integers(0, 256, (3, 3, 16, 16), dtype=np.uint8)
        batch = ExportedModel(repository / "m/1/model.json").encode_images(list(pixels))
        expected = Predictor(bundle).predict_proba(torch.from_numpy(pixels))
    logits, probabilities = session.run(None, {declared.name: batch})
    assert logits.shape == probabilities.shape == (3, len(labels))
    np.testing.assert_allclose(probabilities, expected.numpy(), atol=1e-4)


def test_versions_follow_the_registry_and_are_never_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = LocalStore(tmp_path / "registry", create=True)
    store.publish("m", text_bundle("rand"))
    store.publish("m", text_bundle("static"))
    repository = tmp_path / "triton"
    source = ["--registry", str(store.root), "--name", "m", "--out", str(repository)]
    assert export(*source, "--version", "v2")[1]["version"] == 2
    assert export(*source, "--version", "v1")[1]["version"] == 1
    before = (repository / "m/2/model.onnx").read_bytes()
    assert export(*source, "--version", "v2")[0] == 2
    assert "m/2 exists: a Triton version is never overwritten" in capsys.readouterr().err
    assert (repository / "m/2/model.onnx").read_bytes() == before
    assert sorted(p.name for p in (repository / "m").iterdir()) == [
        "1",
        "2",
        "config.pbtxt",
        "labels.txt",
    ]  # fmt: skip: no staging directory left behind
    # a bundle directory: named after it, at the repository's next version
    bundle = text_bundle("rand").save(tmp_path / "m")
    status, summary = export("--model", str(bundle), "--out", str(repository))
    assert status == 0 and (summary["model"], summary["version"]) == ("m", 3)
    assert read_config(repository / "m/config.pbtxt").name == "m"


def test_triton_options_need_the_triton_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = text_bundle("rand").save(tmp_path / "b")
    out = ["--model", str(bundle), "--out", str(tmp_path / "x.onnx"), "--triton-model", "x"]
    assert main(["export", "--format", "onnx", *out]) == 2
    assert "--triton-model and --triton-version go with --format triton" in capsys.readouterr().err

"""ONNX export: every text mode and image architecture, run by the reference consumer in
onnxruntime, gives the Predictor's probabilities on the same raw inputs."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import REPO
from textcnn.cli import main
from textcnn.engine.bundle import Bundle
from textcnn.engine.predictor import Predictor
from textcnn.errors import ExportError
from textcnn.export import build_contract, export_onnx
from textcnn.export.consumer import ExportedModel
from textcnn.export.onnx_export import INT8_TOLERANCE
from textcnn.image.processor import ImageProcessor
from textcnn.models import create_model, list_models, make_config, register_model
from textcnn.models.blocks import Classifier, ClassifierHead
from textcnn.models.image import ImageConfig
from textcnn.models.registry import _MODELS
from textcnn.models.textcnn import MODES
from textcnn.store import LocalStore
from textcnn.text.processor import TextProcessor
from textcnn.text.vocab import PAD, UNK, Vocab

pytest.importorskip("onnxruntime")

TOLERANCE = 1e-4
TRAINED = [f"w{i}" for i in range(28)]  # words the tuned table has rows for
FROZEN = [f"f{i}" for i in range(12)]  # pretrained-only words: frozen vectors
TEXTS = [
    "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13 w14 w15 w16",  # over max_length
    "w3 f2 W4 unseen words, here!",
    "f0",
    "",
    "It's the w7's n't (w20) f11?",
    "w5 w5 w5 f3 f4 f5 w6",
]


def spread(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random weights large enough that probabilities are far from uniform (so that parity
    means something), with random batch-norm statistics."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                values = torch.randn(tensor.shape, generator=generator) * 0.5
                tensor.copy_(values.abs() + 0.5 if name.endswith("running_var") else values)
    return model.eval()


def text_bundle(mode: str, **extra: object) -> Bundle:
    vocab = Vocab([PAD, UNK, *TRAINED, *FROZEN])
    config = make_config(
        "textcnn",
        vocab_size=len(vocab),
        num_classes=3,
        mode=mode,
        dim=6,
        trained_vocab_size=2 + len(TRAINED),
        filter_widths=(1, 3, 5),
        feature_maps=4,
    )
    model = spread(create_model("textcnn", config), seed=MODES.index(mode))
    processor = TextProcessor(vocab, max_length=12)
    return Bundle(model, "textcnn", config, processor, ["neg", "neu", "pos"], extra=dict(extra))


def expected_proba(bundle: Bundle, batch: list) -> np.ndarray:
    """The Predictor's probabilities; for a multi-label bundle, the sigmoids of its logits
    (until the Predictor reads ``multi_label`` itself)."""
    predictor = Predictor(bundle)
    if bundle.extra.get("multi_label"):
        return predictor.logits_from_tensor(bundle.processor.encode(batch)).sigmoid().numpy()
    return predictor.predict_proba(batch).numpy()


MULTI_LABEL_MODE = "multichannel"  # exported as a multi-label model, from a registry
THRESHOLDS = [0.3, 0.5, 0.7]


@pytest.fixture(scope="module")
def export_text(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple]:
    """``(bundle, contract path, printed summary)`` of each mode, exported once through
    ``textcnn export``: from a bundle directory, or for ``MULTI_LABEL_MODE`` from a registry
    version."""
    done: dict[str, tuple[Bundle, Path, dict]] = {}

    def export(mode: str) -> tuple[Bundle, Path, dict]:
        if mode not in done:
            root = tmp_path_factory.mktemp(mode)
            out = root / "export" / "model.onnx"
            if mode == MULTI_LABEL_MODE:
                bundle = text_bundle(mode, multi_label=True, thresholds=THRESHOLDS)
                store = LocalStore(root / "registry", create=True)
                store.publish("tickets", bundle)
                source = ["--registry", str(store.root), "--name", "tickets", "--version", "v1"]
            else:
                bundle = text_bundle(mode)
                source = ["--model", str(bundle.save(root / "bundle"))]
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                assert main(["export", *source, "--format", "onnx", "--out", str(out)]) == 0
            done[mode] = bundle, out.with_suffix(".json"), json.loads(printed.getvalue())
        return done[mode]

    return export


@pytest.mark.parametrize("mode", MODES)
def test_text_modes_export_and_match_the_predictor(mode: str, export_text) -> None:
    bundle, contract, summary = export_text(mode)
    assert summary["max_probability_difference"] <= TOLERANCE
    assert summary["contract"] == str(contract)

    exported = ExportedModel(contract)
    assert exported.contract["input"]["shape"] == ["batch", "sequence"]
    for text in TEXTS:
        assert exported.tokenize(text) == bundle.processor.tokenize(text)
    np.testing.assert_array_equal(exported.encode(TEXTS), bundle.processor.encode(TEXTS).numpy())
    # batches of other sizes and lengths than the export's sample, padding included
    for batch in (TEXTS, TEXTS[1:3], TEXTS[2:3], TEXTS[3:4], TEXTS[::2]):
        expected = expected_proba(bundle, batch)
        np.testing.assert_allclose(exported.predict_proba(batch), expected, rtol=0, atol=TOLERANCE)
    assert np.ptp(exported.predict_proba(TEXTS), axis=0).max() > 0.1  # inputs told apart
    assert [p["label"] for p in exported.predict(TEXTS)] == [
        p.label for p in Predictor(bundle).predict(TEXTS)
    ]


def test_multi_label_bundles_export_sigmoids_and_thresholds(export_text) -> None:
    """A bundle whose config says ``multi_label`` (with per-label thresholds) exports one
    sigmoid per label, and its contract carries both."""
    bundle, contract, _ = export_text(MULTI_LABEL_MODE)
    exported = ExportedModel(contract)
    assert exported.contract["multi_label"] is True
    assert exported.contract["thresholds"] == THRESHOLDS
    assert exported.contract["source"].endswith("tickets v1")
    probs = exported.predict_proba(TEXTS)
    assert not np.allclose(probs.sum(axis=1), 1.0)  # not a softmax
    results = exported.predict(TEXTS)
    for row, result in zip(probs, results, strict=True):
        over = [label for label, p, t in zip(bundle.labels, row, THRESHOLDS, strict=True) if p > t]
        assert result["labels"] == over
    assert {len(r["labels"]) for r in results} != {1}  # not simply the top label


IMAGE_CONFIGS = {
    "lenet5": {"width": 4, "hidden": (16,)},
    "vgg": {"width": 4, "depth": (1, 1)},
    "nin": {"width": 8, "depth": (1, 1)},
    "inception": {"width": 4, "depth": (1, 1)},
    "resnet": {"width": 4, "depth": (1, 0, 1)},
    "densenet": {"width": 4, "depth": (2, 2)},
}


@pytest.mark.parametrize("arch", list_models("image"))
def test_image_architectures_export_and_match_the_predictor(arch: str, tmp_path: Path) -> None:
    size = 16
    config = make_config(arch, num_classes=4, input_size=size, **IMAGE_CONFIGS.get(arch, {}))
    processor = ImageProcessor(size, (0.4, 0.5, 0.6), (0.2, 0.25, 0.3), flip_tta=arch == "resnet")
    model = spread(create_model(arch, config), seed=1)
    bundle = Bundle(model, arch, config, processor, ["a", "b", "c", "d"])
    # every registered image architecture exports: a failure here is a regression, never a
    # skip (what cannot export is refused by name: the next test)
    result = export_onnx(bundle, tmp_path / f"{arch}.onnx")
    exported = ExportedModel(result.contract_path)
    assert exported.contract["input"]["shape"] == ["batch", 3, size, size]
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (5, 3, size, size), dtype=torch.uint8, generator=generator)
    predictor = Predictor(bundle)
    for batch in (pixels, pixels[:1]):
        expected = predictor.predict_proba(batch).numpy()
        got = exported.predict_proba(list(batch.numpy()))
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)
    if arch == "resnet":  # files, resized and cropped by the consumer as by the processor
        paths = []
        for i, shape in enumerate([(40, 24), (24, 30)]):
            rgb = np.random.default_rng(i).integers(0, 256, (*shape, 3), dtype=np.uint8)
            Image.fromarray(rgb).save(tmp_path / f"{i}.png")
            paths.append(tmp_path / f"{i}.png")
        expected = predictor.predict_proba(paths).numpy()
        np.testing.assert_allclose(exported.predict_proba(paths), expected, atol=TOLERANCE)


class DataDependent(torch.nn.Module):
    """Branches on its input's values: a graph cannot hold that."""

    out_features = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = x.flatten(1)[:, :4]
        return features if bool(x.sum() > 0) else -features


def test_an_architecture_that_cannot_export_is_refused_by_name(tmp_path: Path) -> None:
    name = "data-dependent-test"
    register_model(name, modality="image", config=ImageConfig)(
        lambda cfg: Classifier(DataDependent(), ClassifierHead(4, cfg.num_classes, 0.0, None))
    )
    try:
        config = make_config(name, num_classes=2, input_size=8)
        bundle = Bundle(
            create_model(name, config).eval(), name, config, ImageProcessor(8), ["a", "b"]
        )
        with pytest.raises(ExportError, match=f"'{name}' architecture cannot be exported"):
            export_onnx(bundle, tmp_path / "x.onnx")
        assert list(tmp_path.iterdir()) == []  # nothing half-written left
    finally:
        del _MODELS[name]


def test_an_output_name_without_onnx_suffix_is_refused(tmp_path: Path, capsys) -> None:
    directory = text_bundle("rand").save(tmp_path / "bundle")
    assert main(["export", "--model", str(directory), "--out", str(tmp_path / "m.json")]) == 2
    assert "must end in .onnx" in capsys.readouterr().err


def test_the_consumer_runs_without_textcnn_or_torch(tmp_path: Path, export_text) -> None:
    """The reference consumer imports only the standard library, NumPy, onnxruntime and
    Pillow, and works as a lone copied file in an interpreter where torch is blocked."""
    source = REPO / "textcnn" / "export" / "consumer.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    modules = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    allowed = {"numpy", "onnxruntime", "PIL", "__future__"}
    assert modules - allowed <= set(sys.stdlib_module_names)

    bundle, contract, _ = export_text("rand")
    for path in (source, contract, contract.with_name("model.onnx")):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    code = (
        "import sys, json; sys.modules['torch'] = None; sys.modules['textcnn'] = None\n"
        "from consumer import ExportedModel\n"
        f"print(json.dumps(ExportedModel('model.json').predict({TEXTS!r})))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    labels = [r["label"] for r in json.loads(run.stdout)]
    assert labels == [p.label for p in Predictor(bundle).predict(TEXTS)]


@pytest.mark.parametrize("tokenizer", ["kim", "char", "whitespace"])
@pytest.mark.parametrize("lowercase", [True, False])
def test_the_contract_reproduces_every_tokenizer(
    tokenizer: str, lowercase: bool, export_text, tmp_path: Path
) -> None:
    """The tokeniser spec in a contract, applied by the consumer, gives the processor's tokens
    (the network does not depend on it: one export serves every setting)."""
    bundle, contract, _ = export_text("rand")
    processor = TextProcessor(bundle.processor.vocab, tokenizer, lowercase, max_length=12)
    data = json.loads(contract.read_text(encoding="utf-8"))
    data["preprocessing"] = build_contract(
        Bundle(bundle.model, "textcnn", bundle.model_config, processor, bundle.labels), "", ""
    )["preprocessing"]
    (tmp_path / "model.json").write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / "model.onnx").write_bytes(contract.with_name("model.onnx").read_bytes())
    exported = ExportedModel(tmp_path / "model.json")
    texts = [*TEXTS, "Ünïcode İstanbul  ǅ straße\tand 東京 tabs\u00a0nbsp", "Don'T STOP"]
    for text in texts:
        assert exported.tokenize(text) == processor.tokenize(text)
    np.testing.assert_array_equal(exported.encode(texts), processor.encode(texts).numpy())


def exported_by_the_cli(bundle: Bundle, tmp_path: Path, flag: str) -> tuple[dict, ExportedModel]:
    """(the summary ``textcnn export FLAG`` prints, its file in the reference consumer)."""
    out = tmp_path / "model.onnx"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        model = ["--model", str(bundle.save(tmp_path / "bundle"))]
        assert main(["export", *model, flag, "--out", str(out)]) == 0
    return json.loads(printed.getvalue()), ExportedModel(out.with_suffix(".json"))


def test_int8_export_runs_in_the_consumer_near_float32(tmp_path: Path) -> None:
    bundle = text_bundle("non-static")
    summary, exported = exported_by_the_cli(bundle, tmp_path, "--int8")
    assert summary["precision"] == "int8"
    assert 0 < summary["max_probability_difference"] <= INT8_TOLERANCE
    assert exported.contract["precision"] == "int8"
    got = exported.predict_proba(TEXTS)
    np.testing.assert_allclose(got, expected_proba(bundle, TEXTS), rtol=0, atol=INT8_TOLERANCE)


def test_token_table_export_runs_in_the_consumer_as_pytorch(tmp_path: Path) -> None:
    bundle = text_bundle("multichannel")
    summary, exported = exported_by_the_cli(bundle, tmp_path, "--token-table")
    assert summary["token_table"] and summary["precision"] == "fp32"
    assert summary["max_probability_difference"] <= TOLERANCE
    got = exported.predict_proba(TEXTS)
    np.testing.assert_allclose(got, expected_proba(bundle, TEXTS), rtol=0, atol=TOLERANCE)


def test_the_temperature_is_in_the_graph_the_contract_and_the_service(tmp_path: Path) -> None:
    """A calibrated bundle's export gives the Predictor's probabilities, its temperature
    applied; the service's form (ONNX Runtime's logits, the Predictor's softmax) does too."""
    from textcnn.export.runtime import network_digest, onnx_forward

    bundle = text_bundle("non-static", temperature=0.4)
    summary, exported = exported_by_the_cli(bundle, tmp_path, "--format=onnx")
    assert summary["max_probability_difference"] <= TOLERANCE
    assert exported.contract["temperature"] == 0.4
    assert "softmax(logits / temperature)" in exported.contract["outputs"]["probabilities"]
    predictor = Predictor(bundle)
    expected = predictor.predict_proba(TEXTS).numpy()
    assert not np.allclose(expected, predictor.predict_logits(TEXTS).softmax(dim=1), atol=0.01)
    np.testing.assert_allclose(exported.predict_proba(TEXTS), expected, rtol=0, atol=TOLERANCE)
    served = Predictor(bundle, runtime=onnx_forward(bundle, cache=tmp_path / "cache"))
    np.testing.assert_allclose(served.predict_proba(TEXTS), expected, rtol=0, atol=TOLERANCE)
    assert network_digest(bundle) != network_digest(text_bundle("non-static"))

"""The service's CPU forward pass in ONNX Runtime: the Predictor's own logits and labels for
every text mode and an image model, exported once per set of weights."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from tests.export.test_onnx import TEXTS, spread, text_bundle
from textcnn.engine.bundle import Bundle
from textcnn.engine.predictor import Predictor
from textcnn.errors import ExportError
from textcnn.export import runtime
from textcnn.export.contract import modality_export
from textcnn.export.onnx_export import INT8_TOLERANCE, export_onnx, token_table_bytes
from textcnn.export.runtime import network_digest, onnx_forward
from textcnn.image.processor import ImageProcessor
from textcnn.models import create_model, make_config
from textcnn.models.textcnn import MODES, table_bytes
from textcnn.models.token_ids import UNK_ID

pytest.importorskip("onnxruntime")


def assert_same_predictions(
    bundle: Bundle, batches: list, cache: Path, token_table: bool = False
) -> None:
    reference = Predictor(bundle)
    served = Predictor(bundle, runtime=onnx_forward(bundle, cache=cache, token_table=token_table))
    for batch in batches:
        x = bundle.processor.encode(batch)
        expected, got = reference.logits_from_tensor(x), served.logits_from_tensor(x)
        assert got.dtype == torch.float32 and got.shape == expected.shape
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        labels = [p.label for p in served.predict(batch)]
        assert labels == [p.label for p in reference.predict(batch)]


@pytest.mark.parametrize("mode", MODES)
def test_text_models_give_the_predictors_logits(mode: str, tmp_path: Path) -> None:
    # every padding length and batch size the batcher makes: one token, empty, longest
    batches = [TEXTS, TEXTS[2:3], TEXTS[3:4], TEXTS[:2], TEXTS * 11]
    assert_same_predictions(text_bundle(mode), batches, tmp_path)


def test_image_models_give_the_predictors_logits_with_flip_tta(tmp_path: Path) -> None:
    config = make_config("lenet5", num_classes=3, input_size=16, width=2)
    processor = ImageProcessor(16, flip_tta=True)
    model = spread(create_model("lenet5", config), seed=1)
    bundle = Bundle(model, "lenet5", config, processor, ["a", "b", "c"])
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (9, 3, 16, 16), dtype=torch.uint8, generator=generator)
    assert_same_predictions(bundle, [images, images[:1]], tmp_path)


def test_the_export_is_made_once_per_set_of_weights(tmp_path: Path, monkeypatch) -> None:
    bundle = text_bundle("non-static")
    onnx_forward(bundle, cache=tmp_path)
    files = sorted(p.name for p in (tmp_path / "onnx").iterdir())
    assert files == [f"{network_digest(bundle)}.onnx"]  # no contract, no temporary left

    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(runtime, "export_onnx", no_export)
    onnx_forward(bundle, cache=tmp_path)  # a restart, a second worker: opened from the cache

    before = network_digest(bundle)
    with torch.no_grad():
        bundle.model.head.linear.bias.add_(1.0)  # a retrained version
    assert network_digest(bundle) != before
    with pytest.raises(AssertionError, match="exported again"):
        onnx_forward(bundle, cache=tmp_path)


def test_a_tampered_cached_export_is_not_used(tmp_path: Path, caplog) -> None:
    """A cached file is checked again when it is opened: one that another version wrote
    (here logits shifted by 1, the same probabilities: only a check of logits finds it) or
    that is not ONNX at all is exported anew, never served."""
    bundle = text_bundle("non-static")
    onnx_forward(bundle, cache=tmp_path)
    cached = tmp_path / "onnx" / f"{network_digest(bundle)}.onnx"
    shifted = text_bundle("non-static")
    with torch.no_grad():
        shifted.model.head.linear.bias.add_(1.0)
    export_onnx(shifted, tmp_path / "shifted.onnx", network_only=True)
    x = bundle.processor.encode(TEXTS)
    expected = Predictor(bundle).logits_from_tensor(x)
    for tampered in ((tmp_path / "shifted.onnx").read_bytes(), b"not an ONNX file"):
        cached.write_bytes(tampered)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            forward = onnx_forward(bundle, cache=tmp_path)
        assert "failed its check, exported again" in caplog.text
        torch.testing.assert_close(forward(x), expected, rtol=1e-5, atol=1e-5)
        assert cached.read_bytes() != tampered


def test_the_parity_check_covers_the_vocabulary_unk_and_max_length() -> None:
    bundle = text_bundle("rand")
    (ids,) = modality_export(bundle).check(bundle)
    vocab, longest = bundle.processor.vocab, bundle.processor.max_length
    assert ids.shape == (8, longest) and (ids[0] != 0).all()  # a row at max_length
    assert (ids == UNK_ID).any() and (ids == 0).any()  # <unk>, and padding
    assert set(ids.unique().tolist()) >= {1, len(vocab) - 1}  # both ends of the vocabulary


def test_exports_in_several_threads_all_succeed(tmp_path: Path) -> None:
    # torch.export patches nn.Module.__call__ for the whole process while it traces: two
    # loaders exporting at once used to undo each other's patch and break every later export
    bundles = [text_bundle(mode) for mode in MODES]
    module_call = torch.nn.Module.__call__
    with ThreadPoolExecutor(len(bundles)) as pool:
        forwards = list(pool.map(lambda b: onnx_forward(b, cache=tmp_path), bundles))
    assert torch.nn.Module.__call__ is module_call
    assert len(forwards) == len(MODES)
    assert_same_predictions(text_bundle("rand"), [TEXTS], tmp_path / "after")


@pytest.mark.parametrize("mode", MODES)
def test_int8_runs_the_convolutions_as_int8_products_near_float32(
    mode: str, tmp_path: Path
) -> None:
    import onnx

    bundle = text_bundle(mode)
    forward = onnx_forward(bundle, cache=tmp_path, int8=True)
    assert forward.precision == "int8"
    path = tmp_path / "onnx" / f"{network_digest(bundle)}-int8.onnx"
    ops = {node.op_type for node in onnx.load(path).graph.node}
    assert "Conv" not in ops and "MatMul" not in ops
    assert ops & {"DynamicQuantizeMatMul", "MatMulInteger"}
    reference = Predictor(bundle)
    served = Predictor(bundle, runtime=forward)
    for batch in [TEXTS, TEXTS[2:3], TEXTS * 11]:
        expected = reference.predict_proba(batch)
        got = served.predict_proba(batch)
        assert (got - expected).abs().max() <= INT8_TOLERANCE
        top2 = expected.topk(2, dim=1).values
        clear = top2[:, 0] - top2[:, 1] > 2 * INT8_TOLERANCE  # not a near tie
        assert torch.equal(got.argmax(1)[clear], expected.argmax(1)[clear])


def test_int8_and_float32_exports_are_cached_apart(tmp_path: Path, caplog) -> None:
    bundle = text_bundle("non-static")
    assert onnx_forward(bundle, cache=tmp_path).precision == "fp32"
    with caplog.at_level(logging.INFO):
        onnx_forward(bundle, cache=tmp_path, int8=True)
        logging.getLogger().info("the service's own records still pass")
    # the quantizer's advice to pre-process goes nowhere; nothing else is held back
    assert "pre-processing" not in caplog.text and "still pass" in caplog.text
    digest = network_digest(bundle)
    names = sorted(p.name for p in (tmp_path / "onnx").iterdir())
    assert names == [f"{digest}-int8.onnx", f"{digest}.onnx"]


@pytest.mark.parametrize("mode", MODES)
def test_token_tables_give_the_predictors_logits_without_convolutions(
    mode: str, tmp_path: Path
) -> None:
    import onnx

    bundle = text_bundle(mode)
    batches = [TEXTS, TEXTS[2:3], TEXTS[3:4], TEXTS[:2], TEXTS * 11]
    assert_same_predictions(bundle, batches, tmp_path, token_table=True)
    path = tmp_path / "onnx" / f"{network_digest(bundle)}-table.onnx"
    ops = {node.op_type for node in onnx.load(path).graph.node}
    assert "Conv" not in ops and "MatMul" not in ops  # only the head's Gemm multiplies
    assert onnx_forward(bundle, cache=tmp_path, token_table=True).token_table
    assert token_table_bytes(bundle) == table_bytes(bundle.model.encoder) > 0


def test_token_tables_are_for_float32_text_models(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="choose one"):
        export_onnx(text_bundle("rand"), tmp_path / "m.onnx", int8=True, token_table=True)
    config = make_config("lenet5", num_classes=3, input_size=16, width=2)
    bundle = Bundle(
        create_model("lenet5", config), "lenet5", config, ImageProcessor(16), list("abc")
    )
    assert token_table_bytes(bundle) == 0
    with pytest.raises(ExportError, match="text encoder"):
        export_onnx(bundle, tmp_path / "m.onnx", token_table=True)
    assert not list(tmp_path.iterdir())

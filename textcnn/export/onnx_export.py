"""Bundles to ONNX files, checked against the Predictor's forward pass before they are kept.

The graph is the bundle's network as the Predictor runs it (flip test-time augmentation
included) with both logits and probabilities (the bundle's temperature applied) as outputs,
traced by ``torch.export`` with dynamic batch (and, for text, sequence) axes. Next to
``NAME.onnx`` goes ``NAME.json``, the preprocessing contract (``textcnn.export.contract``).
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from textcnn.engine.bundle import Bundle
from textcnn.engine.forward import forward_logits
from textcnn.errors import ExportError
from textcnn.export.contract import OUTPUTS, build_contract, is_multi_label, modality_export
from textcnn.models.blocks import ConvBank1d, MatmulConvBank1d
from textcnn.models.textcnn import TextEncoder, TokenTableEncoder, table_bytes

TOLERANCE = 1e-4  # largest probability difference from the Predictor's an export may show
# and of logits, relative to their size (at least 1): the service adds terms to the logits
LOGIT_TOLERANCE = 1e-4
# int8 rounds each batch's activations to 256 levels: probabilities move by up to ~0.02 (the
# default recipe on MR, SST-2 and TREC test sets: 0.012-0.022, labels 99.7-100 % the same,
# bench/int8_agreement.py); more means a fault
INT8_TOLERANCE = 0.05
# its logits moved by up to 0.044 of their size on the test models (tests/export), 0.2 allows
# for larger real ones (not measured on them); a fault such as shifted logits still shows
INT8_LOGIT_TOLERANCE = 0.2
ONNX_LIMIT = 2**31  # protobuf's limit on one ONNX file, weights included
REQUIRED = ("onnx", "onnxscript", "onnxruntime")
# torch.export's tracing patches ``nn.Module.__call__`` on the class for the process: two
# exports in different threads undo each other's patch and leave it patched for good, and every
# later export then fails; it also swaps fake tensors into the module it traces. One export at a
# time, its check included.
_EXPORT_LOCK = threading.Lock()


class ServedNetwork(nn.Module):
    """Logits as the Predictor computes them, and the probabilities it reports: the softmax
    of the logits divided by the bundle's temperature, or one sigmoid per label for
    multi-label models."""

    def __init__(
        self, model: nn.Module, flip_tta: bool, multi_label: bool, temperature: float = 1.0
    ) -> None:
        super().__init__()
        self.model = model
        self.flip_tta = flip_tta
        self.multi_label = multi_label
        self.temperature = temperature

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = forward_logits(self.model, x, self.flip_tta)
        if self.multi_label:
            return logits, logits.sigmoid()
        return logits, (logits / self.temperature).softmax(dim=1)


@dataclass(frozen=True)
class Exported:
    onnx_path: Path
    contract_path: Path
    max_difference: float  # largest probability difference from PyTorch on the check inputs
    precision: str = "fp32"  # of the matrix products: fp32 or int8
    token_table: bool = False  # a text model's convolutions as lookups (TokenTableEncoder)


def contract_path_for(onnx_path: Path) -> Path:
    return onnx_path.with_suffix(".json")


def export_onnx(
    bundle: Bundle,
    out: str | Path,
    source: str = "",
    int8: bool = False,
    token_table: bool = False,
    network_only: bool = False,
) -> Exported:
    """Write ``out`` (a ``.onnx`` path) and its contract beside it; nothing is left behind
    unless onnxruntime reproduces the bundle's probabilities within ``TOLERANCE``.

    A model whose predictions also add a term of the raw inputs (a text model's sentence
    term, ``Predictor.input_term``) is refused, since the file could not hold it, unless
    ``network_only``: the caller adds the term itself (the service does).

    ``int8``: matrix products in int8 (ONNX Runtime's dynamic quantization: int8 weights, each
    batch's activations scaled to int8 as it runs), a text model's convolutions included, as
    ``MatmulConvBank1d``; checked within ``INT8_TOLERANCE``. Image convolutions stay float32.
    ``token_table``: a text model's embeddings and convolutions folded into one table of
    lookups (``TokenTableEncoder``: faster, and larger by ``table_bytes``).
    """
    if bundle.model.input_term is not None and not network_only:
        raise ExportError(
            "this model also adds a sentence encoder's scores of the raw text, which an ONNX "
            "file cannot hold: serve it with `textcnn serve`, or train without "
            "`sentence_encoder`"
        )
    with _EXPORT_LOCK:
        return _export(bundle, Path(out), source, int8, token_table)


def _export(bundle: Bundle, out: Path, source: str, int8: bool, token_table: bool) -> Exported:
    if out.suffix != ".onnx":
        raise ExportError(f"{out}: the ONNX file's name must end in .onnx")
    if int8 and token_table:
        raise ExportError("int8 and token_table are two forms of the convolutions: choose one")
    table = token_table_bytes(bundle) if token_table else 0
    if token_table and not table:
        raise ExportError(f"a token table folds a text encoder; {bundle.arch!r} has none")
    missing = [name for name in REQUIRED if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(f"ONNX export needs {', '.join(missing)}: pip install 'textcnn[export]'")
    export = modality_export(bundle)
    spec = export.input(bundle.processor)
    weights = sum(t.numel() * t.element_size() for t in bundle.model.state_dict().values())
    weights += table  # checked before a table is built: it may not fit in memory either
    if weights >= ONNX_LIMIT:
        raise ExportError(
            f"the weights take {weights / 2**30:.1f} GiB; an ONNX file holds at most 2 GiB "
            "(train with a smaller pretrained vocabulary)"
        )
    model = bundle.model.cpu().eval()
    if int8:
        model = matmul_conv_banks(model)
    elif token_table:
        model = token_tables(model)
    network = ServedNetwork(
        model,
        getattr(bundle.processor, "flip_tta", False),
        is_multi_label(bundle),
        bundle.temperature,
    ).eval()
    sample = export.sample(bundle)
    dims = {axis: index for index, axis in enumerate(spec.axes) if isinstance(axis, str)}
    dynamic = {index: torch.export.Dim(axis) for axis, index in dims.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with _quiet_exporter():
            try:
                program = torch.onnx.export(
                    network,
                    (sample,),
                    dynamo=True,
                    input_names=[spec.name],
                    output_names=list(OUTPUTS),
                    dynamic_shapes=(dynamic,),
                    verbose=False,
                )
            except Exception as exc:  # the exporter raises many kinds; all mean "cannot"
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise ExportError(
                    f"the {bundle.arch!r} architecture cannot be exported to ONNX ({reason})"
                ) from exc
            program.save(str(tmp), external_data=False)
            if int8:
                quantize_int8(tmp)
        # against the bundle's own network: the forms above are checked here, not assumed
        difference = check_export(bundle, tmp, int8)
        precision = "int8" if int8 else "fp32"
        contract = build_contract(bundle, out.name, source, precision)
        contract_path = contract_path_for(out)
        text = json.dumps(contract, indent=1, ensure_ascii=False) + "\n"
        tmp_contract = contract_path.with_name(f".{contract_path.name}.tmp-{os.getpid()}")
        tmp_contract.write_text(text, encoding="utf-8")
        tmp.replace(out)
        tmp_contract.replace(contract_path)
    finally:
        tmp.unlink(missing_ok=True)
    return Exported(out, contract_path, difference, precision, token_table)


def token_table_bytes(bundle: Bundle) -> int:
    """Memory ``bundle``'s token tables would take (``TokenTableEncoder``); 0 without one."""
    return sum(table_bytes(m) for m in bundle.model.modules() if isinstance(m, TextEncoder))


def matmul_conv_banks(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``ConvBank1d`` in its matrix-product form."""
    return _replaced(model, ConvBank1d, MatmulConvBank1d)


def token_tables(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``TextEncoder`` as a ``TokenTableEncoder``."""
    return _replaced(model, TextEncoder, TokenTableEncoder)


def _replaced(model: nn.Module, kind: type[nn.Module], form: type[nn.Module]) -> nn.Module:
    """A copy of ``model`` with each submodule of type ``kind`` swapped for ``form(it)``."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, kind):
                setattr(parent, name, form(child))
    return model


def quantize_int8(path: Path) -> None:
    """Rewrite the ONNX file at ``path`` with int8 matrix products (weights per column).

    Weights are unsigned (ONNX Runtime's u8u8 kernels): its u8s8 kernels on CPUs without VNNI
    (AVX2, as on AMD EPYC before Zen 4) add pairs of products in int16 and saturate, which
    moved a test model's probabilities by 0.06 on such a machine against 0.004 with u8u8;
    the signed form's extra speed on VNNI CPUs is not worth an export whose accuracy depends
    on the machine it runs on."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = path.with_name(f"{path.name}.int8")
    root = logging.getLogger()
    quiet = _NotFromOnnxRuntime()  # its advice to pre-process, logged on the root logger
    root.addFilter(quiet)
    try:
        quantize_dynamic(
            path,
            quantized,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            weight_type=QuantType.QUInt8,
        )
        quantized.replace(path)
    finally:
        root.removeFilter(quiet)
        quantized.unlink(missing_ok=True)


class _NotFromOnnxRuntime(logging.Filter):
    """Drops records that ONNX Runtime's own code logs (through the root logger)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "onnxruntime" not in Path(record.pathname).parts


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's progress warnings (optional torchvision ops, deprecations in
    its own code): nothing a user could act on."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript", "onnx_ir")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _resized(sample: torch.Tensor, axes: tuple[str | int, ...]) -> torch.Tensor:
    """The sample with other sizes on its dynamic axes: 3 rows, shorter sequences."""
    x = torch.cat([sample, sample])[:3]
    for dim, axis in enumerate(axes[1:], start=1):
        if isinstance(axis, str):
            x = x.narrow(dim, 0, max(1, x.shape[dim] - 3))
    return x


def check_export(bundle: Bundle, path: Path, int8: bool = False) -> float:
    """The largest probability difference between onnxruntime running the file at ``path``
    and ``bundle``'s own network; ``ExportError`` when the probabilities or the logits differ
    by more than the tolerance. The inputs: the traced sample, other sizes of it, and the
    modality's check inputs (for text, random ids over the whole vocabulary, ``<unk>``
    included, and a row at ``max_length``)."""
    export = modality_export(bundle)
    spec = export.input(bundle.processor)
    sample = export.sample(bundle)
    inputs = [sample, _resized(sample, spec.axes), *export.check(bundle)]
    flip_tta = getattr(bundle.processor, "flip_tta", False)
    multi_label, temperature = is_multi_label(bundle), bundle.temperature
    reference = ServedNetwork(bundle.model.cpu().eval(), flip_tta, multi_label, temperature)
    probability, logit = _differences(reference, path, spec.name, inputs)
    tolerance = INT8_TOLERANCE if int8 else TOLERANCE
    logit_tolerance = INT8_LOGIT_TOLERANCE if int8 else LOGIT_TOLERANCE
    if probability > tolerance or logit > logit_tolerance:
        raise ExportError(
            f"onnxruntime differs from PyTorch by {probability:.2e} in probabilities (at most "
            f"{tolerance:g}) and {logit:.2e} in logits, relative to their size (at most "
            f"{logit_tolerance:g}); not exported"
        )
    return probability


def _differences(
    network: nn.Module, path: Path, input_name: str, inputs: list[torch.Tensor]
) -> tuple[float, float]:
    """The largest probability difference between PyTorch and onnxruntime over ``inputs``,
    and the largest logit difference relative to the logit's size (at least 1)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probability = logit = 0.0
    for x in inputs:
        with torch.inference_mode():
            logits, probs = network(x)
        got_logits, got_probs = map(
            torch.from_numpy, session.run(list(OUTPUTS), {input_name: x.numpy()})
        )
        probability = max(probability, float((probs - got_probs).abs().max()))
        scale = logits.abs().clamp(min=1)
        logit = max(logit, float(((logits - got_logits).abs() / scale).max()))
    return probability, logit

"""A bundle's forward pass in ONNX Runtime: how the service runs models on CPUs by default.

Why: under load a PyTorch forward runs a few dozen operators, and each one hands the GIL back
to the event loop's thread and waits to get it again; ``session.run`` releases it once per
batch. A batch of 64 texts (the demo model, one thread) took 26.4 ms of thread CPU in PyTorch
beside a busy Python thread against 10.1 ms in ONNX Runtime (``bench/onnx_latency.py``).

The network is ``export_onnx``'s (checked against PyTorch before it is kept), exported once per
set of weights and cached in ``$TEXTCNN_CACHE/onnx`` under a digest of the architecture, its
config, the weights and the exporter's versions, so a restart or a second worker opens it
without exporting again. A cached file is checked against PyTorch again when it is opened
(a few forward passes): one that fails, whatever changed it, is exported anew.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from textcnn.cache import cache_root
from textcnn.engine.bundle import Bundle
from textcnn.export.contract import OUTPUTS
from textcnn.export.onnx_export import check_export, export_onnx

log = logging.getLogger(__name__)
VERSIONED = ("torch", "onnx", "onnxscript", "onnxruntime")


class OnnxForward:
    """Encoded inputs to float32 logits, as ``forward_logits`` computes them (flip test-time
    augmentation included), run by an ONNX Runtime session on ``threads`` CPU threads."""

    name = "onnxruntime"

    def __init__(
        self, path: str | Path, threads: int = 1, precision: str = "fp32", token_table: bool = False
    ) -> None:
        self.precision = precision  # of the file's matrix products: fp32 or int8
        self.token_table = token_table  # a text model's convolutions as lookups
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only: its graph-optimisation notes are noise
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.session.run([OUTPUTS[0]], {self.input_name: x.cpu().numpy()})[0]
        return torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float32))


def onnx_forward(
    bundle: Bundle,
    threads: int = 1,
    cache: Path | None = None,
    int8: bool = False,
    token_table: bool = False,
) -> OnnxForward:
    """``bundle``'s network in ONNX Runtime, exported on first use (``ExportError`` when it
    cannot be: a missing package, an architecture the exporter refuses, a failed check);
    ``int8``: its matrix products in int8, ``token_table``: a text model's convolutions as
    lookups (``export_onnx``'s)."""
    directory = (cache or cache_root()) / "onnx"
    form = "-int8" if int8 else "-table" if token_table else ""
    path = directory / f"{network_digest(bundle)}{form}.onnx"
    if path.is_file():  # anything may have written the cache since: checked before it serves
        try:
            check_export(bundle, path, int8)
        except Exception as exc:
            log.warning("cached export %s failed its check, exported again: %s", path.name, exc)
            path.unlink(missing_ok=True)
    if not path.is_file():
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=directory, prefix=".export-") as tmp:
            out = Path(tmp) / path.name
            exported = export_onnx(
                bundle, out, int8=int8, token_table=token_table, network_only=True
            )
            os.replace(exported.onnx_path, path)  # another process may win: same bytes
    return OnnxForward(path, threads, "int8" if int8 else "fp32", token_table)


def network_digest(bundle: Bundle) -> str:
    """What the exported graph depends on: architecture, config, weights, temperature,
    exporter versions."""
    digest = hashlib.sha256()
    header = {
        "arch": bundle.arch,
        "model": asdict(bundle.model_config),  # as config.json holds it
        "labels": len(bundle.labels),
        "multi_label": bundle.multi_label,
        "temperature": bundle.temperature,  # in the graph's probabilities output
        "flip_tta": getattr(bundle.processor, "flip_tta", False),
        "versions": [_version(name) for name in VERSIONED],
    }
    digest.update(json.dumps(header, sort_keys=True, default=str).encode())
    for name, tensor in bundle.model.state_dict().items():
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(
            tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        )
    return digest.hexdigest()[:32]


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "absent"

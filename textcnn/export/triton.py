"""Bundles as versions in a Triton Inference Server model repository.

``<repository>/<model>/<N>/model.onnx`` is the checked ONNX export (``export_onnx``) with its
preprocessing contract beside it as ``model.json``; ``<model>/config.pbtxt`` declares the
onnxruntime backend, the contract's input and outputs (the batch axis left to Triton's
``max_batch_size``), dynamic batching, and the labels (``labels.txt``) for Triton's
classification extension. A version is written beside the repository and renamed into place,
so a Triton in explicit model-control mode loads whole versions only (its polling mode may
read a directory while it is written).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from textcnn.engine.bundle import Bundle
from textcnn.errors import ExportError
from textcnn.export.contract import OUTPUTS, modality_export
from textcnn.export.onnx_export import Exported, export_onnx

MODEL_FILE = "model.onnx"  # the onnxruntime backend's default_model_filename
CONFIG_FILE = "config.pbtxt"
LABELS_FILE = "labels.txt"
# The service's default TEXTCNN_MAX_BATCH_SIZE: the most inputs Triton stacks into one run.
MAX_BATCH_SIZE = 64
DATA_TYPES = {"int64": "TYPE_INT64", "float32": "TYPE_FP32"}  # the contract's -> Triton's


@dataclass(frozen=True)
class TritonExport:
    model_dir: Path  # <repository>/<model>
    version: int
    exported: Exported  # the ONNX file and its contract, under <model>/<version>/


def triton_config(bundle: Bundle, model: str, max_batch_size: int = MAX_BATCH_SIZE) -> str:
    """``config.pbtxt`` (protobuf text format of Triton's ``ModelConfig``) for ``bundle``'s
    ONNX export served as ``model``."""
    spec = modality_export(bundle).input(bundle.processor)
    if spec.axes[0] != "batch":
        raise ExportError(f"the {bundle.modality} input's first axis is not the batch")
    dims = ", ".join("-1" if isinstance(axis, str) else str(axis) for axis in spec.axes[1:])
    labels = len(bundle.labels)
    outputs = ",\n".join(
        f'  {{ name: "{name}" data_type: TYPE_FP32 dims: [ {labels} ]'
        + (f' label_filename: "{LABELS_FILE}"' if name == "probabilities" else "")
        + " }"
        for name in OUTPUTS
    )
    return (
        f'name: "{model}"\n'
        'backend: "onnxruntime"\n'
        f"max_batch_size: {max_batch_size}\n"
        f'input [\n  {{ name: "{spec.name}" data_type: {DATA_TYPES[spec.dtype]} dims: [ {dims} ] }}'
        "\n]\n"
        f"output [\n{outputs}\n]\n"
        "dynamic_batching { }\n"
        "version_policy { latest { num_versions: 1 } }\n"
    )


def export_triton(
    bundle: Bundle,
    repository: str | Path,
    model: str,
    version: int,
    source: str = "",
    int8: bool = False,
    token_table: bool = False,
) -> TritonExport:
    """Add ``bundle`` to the Triton model repository ``repository`` as version ``version`` of
    ``model`` (an existing version is never overwritten); ``int8``, ``token_table``: as in
    ``export_onnx``."""
    if version < 1:
        raise ExportError(f"Triton versions are positive integers, got {version}")
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", model):
        raise ExportError(f"{model!r} cannot name a Triton model (letters, digits, _ . -)")
    model_dir = Path(repository) / model
    target = model_dir / str(version)
    if target.exists():
        raise ExportError(f"{target} exists: a Triton version is never overwritten")
    config = triton_config(bundle, model)
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=model_dir))
    try:
        exported = export_onnx(bundle, staging / MODEL_FILE, source, int8, token_table)
        _write(model_dir / LABELS_FILE, "".join(f"{label}\n" for label in bundle.labels))
        _write(model_dir / CONFIG_FILE, config)
        os.chmod(staging, 0o755)
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    moved = Exported(
        target / MODEL_FILE,
        target / exported.contract_path.name,
        exported.max_difference,
        exported.precision,
        exported.token_table,
    )
    return TritonExport(model_dir, version, moved)


def next_version(repository: str | Path, model: str) -> int:
    """One more than the newest version of ``model`` in ``repository`` (1 for a new model)."""
    model_dir = Path(repository) / model
    taken = (
        [int(p.name) for p in model_dir.iterdir() if p.name.isdigit()] if model_dir.is_dir() else []
    )
    return max(taken, default=0) + 1


def _write(path: Path, text: str) -> None:
    """``text`` into ``path`` by a rename: a reader sees the old file or the new one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)

"""The preprocessing contract: what a consumer of an exported network must do to raw inputs.

Everything a program in any language needs beside the ONNX file goes into one JSON object:
labels, whether the probabilities are per-label sigmoids (multi-label) and their decision
thresholds, or else the temperature that divides the logits before the softmax, the network's
input, and the modality's preprocessing (for text the tokeniser as data and the vocabulary;
for images the geometry and normalisation). Each modality that can be exported says, in its
own module, how to describe its processor and a sample input to trace the network with
(``Modality.export``).
"""

from __future__ import annotations

from typing import Any

from textcnn.engine.bundle import Bundle
from textcnn.errors import ExportError
from textcnn.modalities import ModalityExport, get_modality, list_modalities
from textcnn.version import __version__

FORMAT = "textcnn-onnx-contract"
FORMAT_VERSION = 1
OUTPUTS = ("logits", "probabilities")


def modality_export(bundle: Bundle) -> ModalityExport:
    """How ``bundle``'s modality exports (``Modality.export``)."""
    export = get_modality(bundle.modality).export
    if export is None:
        exportable = [m for m in list_modalities() if get_modality(m).export is not None]
        raise ExportError(
            f"{bundle.modality} models cannot be exported to ONNX; "
            f"exportable modalities: {', '.join(exportable)}"
        )
    return export


def is_multi_label(bundle: Bundle) -> bool:
    """Multi-label bundles (``multi_label`` in their config) score each label by a sigmoid."""
    return bool(bundle.extra.get("multi_label", False))


def build_contract(
    bundle: Bundle, model_file: str, source: str, precision: str = "fp32"
) -> dict[str, Any]:
    """The contract JSON for ``bundle`` exported as ``model_file`` (a name beside it);
    ``precision``: of its matrix products, fp32 or int8."""
    export = modality_export(bundle)
    spec = export.input(bundle.processor)
    multi_label = is_multi_label(bundle)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_file": model_file,
        "modality": bundle.modality,
        "arch": bundle.arch,
        "labels": bundle.labels,
        "multi_label": multi_label,
        "thresholds": bundle.extra.get("thresholds"),
        "temperature": bundle.temperature,
        "precision": precision,
        "input": {"name": spec.name, "shape": list(spec.axes), "dtype": spec.dtype},
        "outputs": {
            "logits": "[batch, labels] float32",
            "probabilities": "[batch, labels] float32: "
            + (
                "sigmoid(logits), one per label" if multi_label else "softmax(logits / temperature)"
            ),
        },
        "preprocessing": export.preprocessing(bundle.processor),
        "source": source,
        "textcnn_version": __version__,
    }

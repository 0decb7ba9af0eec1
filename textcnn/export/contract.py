"""The preprocessing contract: what a consumer of an exported network must do to raw inputs.

Everything a program in any language needs beside the ONNX file goes into one JSON object:
labels, whether the probabilities are per-label sigmoids (multi-label) and their decision
thresholds, or else the temperature that divides the logits before the softmax, the network's
input, and the modality's preprocessing (for text the tokeniser as data and the vocabulary;
for images the geometry and normalisation). Each modality that can be exported registers how
to describe its processor and a sample input to trace the network with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from textcnn.engine.bundle import Bundle
from textcnn.errors import ExportError
from textcnn.version import __version__

FORMAT = "textcnn-onnx-contract"
FORMAT_VERSION = 1
OUTPUTS = ("logits", "probabilities")


@dataclass(frozen=True)
class InputSpec:
    """The network's one input: its name, axes (named ones are dynamic) and dtype."""

    name: str
    axes: tuple[str | int, ...]
    dtype: str


@dataclass(frozen=True)
class ModalityExport:
    """How bundles of one modality export: the network's input, a sample of it (any values
    the network accepts, several rows), the preprocessing half of the contract, and inputs
    the export's parity check runs beside the sample (``check``: none by default)."""

    input: Callable[[Any], InputSpec]
    sample: Callable[[Bundle], torch.Tensor]
    preprocessing: Callable[[Any], dict[str, Any]]
    check: Callable[[Bundle], list[torch.Tensor]] = lambda bundle: []


_EXPORTS: dict[str, ModalityExport] = {}


def register_export(modality: str, export: ModalityExport) -> None:
    _EXPORTS[modality] = export


def modality_export(bundle: Bundle) -> ModalityExport:
    if bundle.modality not in _EXPORTS:
        raise ExportError(
            f"{bundle.modality} models cannot be exported to ONNX; "
            f"exportable modalities: {', '.join(sorted(_EXPORTS))}"
        )
    return _EXPORTS[bundle.modality]


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


def _text_preprocessing(processor: Any) -> dict[str, Any]:
    from textcnn.text.tokenize import tokenizer_spec
    from textcnn.text.vocab import PAD, UNK

    vocab = processor.vocab
    return {
        "tokenizer": {**tokenizer_spec(processor.tokenizer), "lowercase": processor.lowercase},
        "max_length": processor.max_length,
        "vocab": vocab.itos,
        "pad_id": vocab.stoi[PAD],
        "unk_id": vocab.stoi[UNK],
        "steps": [
            "apply tokenizer.rules in order (regular expression, replacement)",
            "lowercase if tokenizer.lowercase",
            "split on whitespace, or into non-space characters if tokenizer.split is 'characters'",
            "keep the first max_length tokens",
            "look each token up in vocab (its index; unk_id when absent)",
            "right-pad every row with pad_id to the batch's longest (at least 1 position)",
        ],
    }


def _text_sample(bundle: Bundle) -> torch.Tensor:
    """Two rows of ids spanning the vocabulary, the second padded."""
    vocab_size = len(bundle.processor.vocab)
    ids = torch.arange(1, 17).remainder(vocab_size - 1).add(1).view(2, 8)
    ids[1, 5:] = 0
    return ids


def _text_check(bundle: Bundle) -> list[torch.Tensor]:
    """Rows of random ids over the whole vocabulary (``<unk>`` and its last id included),
    padded at random lengths, the first as long as the processor lets a text be
    (``max_length``)."""
    from textcnn.text.vocab import UNK

    vocab, longest = bundle.processor.vocab, bundle.processor.max_length
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1, len(vocab), (8, longest), generator=generator)
    ids[1:, 0] = vocab.stoi[UNK]
    ids[0, -1] = len(vocab) - 1
    lengths = torch.randint(1, longest + 1, (8,), generator=generator)
    lengths[0] = longest
    ids[torch.arange(longest) >= lengths[:, None]] = 0
    return [ids]


def _image_preprocessing(processor: Any) -> dict[str, Any]:
    return {
        "size": processor.size,
        "mean": list(processor.mean),
        "std": list(processor.std),
        "flip_tta": processor.flip_tta,
        "steps": [
            "decode to 8-bit RGB, upright by its EXIF orientation, transparency composited "
            "onto white",
            "resize the shorter side to size and centre-crop to size x size, in one bicubic "
            "resampling",
            "to float32 [batch, 3, size, size] (channels first): (pixel / 255 - mean) / std "
            "per channel",
            "flip_tta is inside the network (logits averaged with the mirror image's): "
            "nothing to do",
        ],
    }


def _image_sample(bundle: Bundle) -> torch.Tensor:
    size = bundle.processor.size
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))


register_export(
    "text",
    ModalityExport(
        input=lambda processor: InputSpec("ids", ("batch", "sequence"), "int64"),
        sample=_text_sample,
        preprocessing=_text_preprocessing,
        check=_text_check,
    ),
)
register_export(
    "image",
    ModalityExport(
        input=lambda processor: InputSpec(
            "pixels", ("batch", 3, processor.size, processor.size), "float32"
        ),
        sample=_image_sample,
        preprocessing=_image_preprocessing,
    ),
)

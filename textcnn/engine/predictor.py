"""Raw inputs in, labelled probabilities out: the one inference path for CLI, Python and API."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from textcnn.engine.bundle import Bundle, load_bundle
from textcnn.engine.forward import forward_logits


@dataclass
class Prediction:
    label: str
    score: float
    scores: list[tuple[str, float]]

    def to_dict(self, top_k: int | None = None) -> dict[str, Any]:
        scores = self.scores if top_k is None else self.scores[:top_k]
        return {
            "label": self.label,
            "score": self.score,
            "scores": [{"label": label, "score": score} for label, score in scores],
        }


PRECISIONS = ("fp32", "bf16")


class Predictor:
    """Wraps a bundle: ``predict(items)`` for texts (or images, for image bundles).

    ``precision="bf16"`` runs convolutions and linear layers under bfloat16 autocast: on CPUs
    with AVX512-BF16 or AMX about 3x faster convolutions, at the cost of probabilities that
    differ from float32 in the third digit. Float32 is the default and the reference.
    """

    def __init__(self, bundle: Bundle, batch_size: int = 256, precision: str = "fp32") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
        self.precision = precision
        self.bundle = bundle
        self.model = bundle.model.eval()
        self.processor = bundle.processor
        self.labels = bundle.labels
        self.batch_size = batch_size
        self.device = next(self.model.parameters()).device
        self.flip_tta = getattr(self.processor, "flip_tta", False)

    @classmethod
    def load(
        cls, path: str | Path, device: str = "cpu", batch_size: int = 256, precision: str = "fp32"
    ) -> Predictor:
        return cls(load_bundle(path, device), batch_size, precision)

    @property
    def modality(self) -> str:
        return self.bundle.modality

    def encode(self, items: Sequence[Any]) -> torch.Tensor:
        """Raw inputs to the model's input tensor (the processor's encoding)."""
        return self.processor.encode(items)

    @staticmethod
    def collate(batches: Sequence[torch.Tensor]) -> torch.Tensor:
        """Concatenate encoded batches, zero-padding trailing dimensions to the largest.

        Zero is the text padding id, and padding never changes a TextCNN's output; inputs of
        fixed shape (images) are simply concatenated.
        """
        shape = [max(b.shape[d] for b in batches) for d in range(1, batches[0].dim())]
        padded = []
        for b in batches:
            pad: list[int] = []
            for target, size in zip(reversed(shape), reversed(b.shape[1:]), strict=True):
                pad += [0, target - size]
            padded.append(torch.nn.functional.pad(b, pad) if any(pad) else b)
        return torch.cat(padded) if len(padded) > 1 else padded[0]

    def autocast(self) -> torch.autocast:
        """The precision every forward pass of this predictor runs in (explanations too,
        so that they explain the label the prediction gave)."""
        bf16 = self.precision == "bf16"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16)

    @torch.inference_mode()
    def logits_from_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for already-encoded inputs, in batches of ``batch_size`` (averaged with
        the mirror images' when the processor asks for flip test-time augmentation)."""
        with self.autocast():
            out = [
                forward_logits(
                    self.model, x[i : i + self.batch_size].to(self.device), self.flip_tta
                ).cpu()
                for i in range(0, len(x), self.batch_size)
            ]
        return torch.cat(out) if out else torch.empty(0, len(self.labels))

    def predict_proba(self, items: Sequence[Any]) -> torch.Tensor:
        """``[N, classes]`` probabilities, columns in ``self.labels`` order."""
        chunks = [
            self.logits_from_tensor(self.processor.encode(items[i : i + self.batch_size]))
            for i in range(0, len(items), self.batch_size)
        ]
        if not chunks:
            return torch.empty(0, len(self.labels))
        return torch.cat(chunks).softmax(dim=1)

    def predictions_from_proba(self, proba: torch.Tensor) -> list[Prediction]:
        values, order = proba.sort(dim=1, descending=True)
        results = []
        for vals, idx in zip(values.tolist(), order.tolist(), strict=True):
            ranked = [(self.labels[i], v) for i, v in zip(idx, vals, strict=True)]
            results.append(Prediction(ranked[0][0], ranked[0][1], ranked))
        return results

    def predict_encoded(self, x: torch.Tensor) -> list[Prediction]:
        """Predictions for already-encoded inputs (see ``encode`` and ``collate``)."""
        return self.predictions_from_proba(self.logits_from_tensor(x).softmax(dim=1))

    def predict(self, items: Sequence[Any]) -> list[Prediction]:
        return self.predictions_from_proba(self.predict_proba(items))

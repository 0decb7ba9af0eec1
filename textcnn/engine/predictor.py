"""Raw inputs in, labelled probabilities out: the one inference path for CLI, Python and API."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textcnn.engine.bundle import Bundle, load_bundle
from textcnn.engine.forward import forward_logits
from textcnn.engine.multilabel import decide
from textcnn.errors import TextCNNError
from textcnn.models.blocks import InputTerm


@dataclass
class Prediction:
    """The most likely label and every label's probability, highest first; for multi-label
    models also ``labels``, every label at or over its threshold (maybe none)."""

    label: str
    score: float
    scores: list[tuple[str, float]]
    labels: list[str] | None = None

    def to_dict(self, top_k: int | None = None) -> dict[str, Any]:
        scores = self.scores if top_k is None else self.scores[:top_k]
        out: dict[str, Any] = {"label": self.label, "score": self.score}
        if self.labels is not None:
            out["labels"] = self.labels
        out["scores"] = [{"label": label, "score": score} for label, score in scores]
        return out

    def with_threshold(self, threshold: float) -> Prediction:
        """A multi-label prediction's labels under one threshold for every label."""
        return replace(self, labels=[label for label, s in self.scores if s >= threshold])


PRECISIONS = ("fp32", "bf16")


class Predictor:
    """Wraps a bundle: ``predict(items)`` for texts (or images, for image bundles).

    ``precision="bf16"`` runs convolutions and linear layers under bfloat16 autocast: on CPUs
    with AVX512-BF16 or AMX about 3x faster convolutions, at the cost of probabilities that
    differ from float32 in the third digit. Float32 is the default and the reference.

    A single-label bundle's probabilities are the softmax of its logits divided by the
    bundle's temperature (fitted on dev data: ``engine.calibration``; 1 in bundles without
    one). A multi-label bundle's are a sigmoid per label of the logits as they are (they need
    not sum to 1) and its predicted labels those over the bundle's thresholds, or over
    ``threshold`` if given.

    ``runtime``, when given, computes the logits of encoded inputs in place of the PyTorch
    model (``textcnn.export.runtime.OnnxForward``: the service's CPU forward pass).
    """

    def __init__(
        self,
        bundle: Bundle,
        batch_size: int = 256,
        precision: str = "fp32",
        threshold: float | None = None,
        runtime: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
        if threshold is not None and not 0 <= threshold <= 1:
            raise ValueError(f"threshold must be between 0 and 1, not {threshold}")
        self.multi_label = bundle.multi_label
        self.thresholds: list[float] | None = None
        if self.multi_label:
            tuned = bundle.thresholds or []
            self.thresholds = tuned if threshold is None else [threshold] * len(tuned)
        self.temperature = bundle.temperature
        self.precision = precision
        self.bundle = bundle
        self.model = bundle.model.eval()
        self.processor = bundle.processor
        self.labels = bundle.labels
        self.batch_size = batch_size
        self.device = next(self.model.parameters()).device
        self.flip_tta = getattr(self.processor, "flip_tta", False)
        self.runtime = runtime
        # a term of the raw inputs beside the network's (a text model's sentence term)
        self.input_term: InputTerm | None = self.model.input_term

    @classmethod
    def load(
        cls,
        path: str | Path,
        device: str = "cpu",
        batch_size: int = 256,
        precision: str = "fp32",
        threshold: float | None = None,
    ) -> Predictor:
        return cls(load_bundle(path, device), batch_size, precision, threshold)

    @property
    def modality(self) -> str:
        return self.bundle.modality

    def with_threshold(self, threshold: float) -> Predictor:
        """The same model with one decision threshold for every label (multi-label models)."""
        return Predictor(self.bundle, self.batch_size, self.precision, threshold, self.runtime)

    def encode(self, items: Sequence[Any]) -> torch.Tensor:
        """Raw inputs to the model's input tensor (the processor's encoding)."""
        return self.processor.encode(items)

    @staticmethod
    def collate(batches: Sequence[torch.Tensor]) -> torch.Tensor:
        """Concatenate encoded batches, zero-padding trailing dimensions to the largest.

        Zero is the text padding id, and padding never changes a TextCNN's output; inputs of
        fixed shape (images) are simply concatenated. The copies are NumPy's, which keep the
        GIL: each torch op would hand it to a busy event loop and wait to get it back.
        """
        if len(batches) == 1:
            return batches[0]
        arrays = [b.numpy() for b in batches]
        shape = [max(a.shape[d] for a in arrays) for d in range(1, arrays[0].ndim)]
        out = np.zeros((sum(len(a) for a in arrays), *shape), dtype=arrays[0].dtype)
        start = 0
        for a in arrays:
            out[(slice(start, start + len(a)), *(slice(0, n) for n in a.shape[1:]))] = a
            start += len(a)
        return torch.from_numpy(out)

    def autocast(self) -> torch.autocast:
        """The precision every forward pass of this predictor runs in (explanations too,
        so that they explain the label the prediction gave)."""
        bf16 = self.precision == "bf16"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16)

    def logits_from_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for already-encoded inputs, in batches of ``batch_size`` (averaged with
        the mirror images' when the processor asks for flip test-time augmentation)."""
        if self.runtime is not None and 0 < len(x) <= self.batch_size:
            return self.runtime(x)  # fp32 outside autograd already: no modes to enter
        with torch.inference_mode(), self.autocast():
            out = [
                self._logits(x[i : i + self.batch_size]) for i in range(0, len(x), self.batch_size)
            ]
        return torch.cat(out) if out else torch.empty(0, len(self.labels))

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.runtime is not None:
            return self.runtime(x)
        return forward_logits(self.model, x.to(self.device), self.flip_tta).cpu()

    def predict_logits(self, items: Sequence[Any]) -> torch.Tensor:
        """``[N, classes]`` logits of raw inputs, every term of the model included, before
        the temperature; columns in ``self.labels`` order."""
        chunks = [
            self.logits_from_tensor(self.processor.encode(items[i : i + self.batch_size]))
            for i in range(0, len(items), self.batch_size)
        ]
        if not chunks:
            return torch.empty(0, len(self.labels))
        return self.with_input_term(torch.cat(chunks), items)

    def predict_proba(self, items: Sequence[Any]) -> torch.Tensor:
        """``[N, classes]`` probabilities, columns in ``self.labels`` order."""
        return self.proba_from_logits(self.predict_logits(items))

    def with_input_term(self, logits: torch.Tensor, items: Sequence[Any] | None) -> torch.Tensor:
        """The network's ``logits`` plus the model's term of the raw ``items``, if it has one."""
        if self.input_term is None:
            return logits
        if items is None:
            raise TextCNNError(
                "this model also scores the raw inputs: pass them beside the encoding"
            )
        with torch.inference_mode():
            return logits + self.input_term(items, logits).to(logits.dtype)

    def proba_from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax over the labels of the logits divided by the temperature; a sigmoid per
        label for multi-label models."""
        if self.multi_label:
            return logits.sigmoid()
        return (logits / self.temperature).softmax(dim=1)

    def decide(self, proba: torch.Tensor) -> torch.Tensor:
        """``[N, C]`` booleans: the labels a multi-label model predicts."""
        return decide(proba, self.thresholds or [])

    def predictions_from_proba(self, proba: torch.Tensor) -> list[Prediction]:
        chosen = self.decide(proba).tolist() if self.multi_label else None
        p = proba.float().numpy()  # in NumPy, for the GIL (see ``collate``)
        order = np.argsort(-p, axis=1, kind="stable")
        values = np.take_along_axis(p, order, axis=1)
        results = []
        for row, (vals, idx) in enumerate(zip(values.tolist(), order.tolist(), strict=True)):
            ranked = [(self.labels[i], v) for i, v in zip(idx, vals, strict=True)]
            labels = None
            if chosen is not None:
                labels = [self.labels[i] for i in idx if chosen[row][i]]  # highest first
            results.append(Prediction(ranked[0][0], ranked[0][1], ranked, labels))
        return results

    def predict_encoded(
        self, x: torch.Tensor, items: Sequence[Any] | None = None
    ) -> list[Prediction]:
        """Predictions for already-encoded inputs (see ``encode`` and ``collate``); a model
        with a term of the raw inputs (``input_term``) needs those ``items`` too."""
        logits = self.with_input_term(self.logits_from_tensor(x), items)
        return self.predictions_from_proba(self.proba_from_logits(logits))

    def predict(self, items: Sequence[Any]) -> list[Prediction]:
        return self.predictions_from_proba(self.predict_proba(items))

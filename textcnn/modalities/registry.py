"""A registry of modalities: everything that differs between kinds of input, behind one name.

Retrain, the CLI and the service know a modality only through its ``Modality`` object,
looked up by the name a bundle records in its ``config.json``; the engine knows only the
processor class each modality registers for its bundles. A new kind of input is one module
that subclasses ``Modality`` and applies ``@register_modality``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

import torch

from textcnn.engine.bundle import Bundle, register_processor

if TYPE_CHECKING:
    from textcnn.engine.predictor import Prediction, Predictor


class Processor(Protocol):
    """What a bundle carries to turn raw inputs into model inputs."""

    modality: ClassVar[str]

    def encode(self, items: Sequence[Any]) -> torch.Tensor: ...

    def to_config(self) -> dict[str, Any]: ...

    def save(self, directory: Path) -> list[str]: ...

    @classmethod
    def load(cls, directory: Path, config: dict[str, Any]) -> Self: ...


@dataclass(frozen=True)
class Serving:
    """How the service runs one model's batches (``Modality.serving``)."""

    encode: Callable[[Sequence[Any]], Any]
    collate: Callable[[Sequence[Any]], Any]
    forward: Callable[[Any], list[Prediction]]


@dataclass(frozen=True)
class InputSpec:
    """An exported network's one input: its name, axes (named ones are dynamic) and dtype."""

    name: str
    axes: tuple[str | int, ...]
    dtype: str


@dataclass(frozen=True)
class ModalityExport:
    """How bundles of one modality export to ONNX (``Modality.export``): the network's input,
    a sample of it (any values the network accepts, several rows), the preprocessing half of
    the contract, and inputs the export's parity check runs beside the sample (``check``:
    none by default)."""

    input: Callable[[Any], InputSpec]
    sample: Callable[[Bundle], torch.Tensor]
    preprocessing: Callable[[Any], dict[str, Any]]
    check: Callable[[Bundle], list[torch.Tensor]] = lambda bundle: []


@dataclass(frozen=True)
class NoReadOptions:
    """For data readers that take no options."""


class Modality(ABC):
    """One kind of input: how it is read, encoded, trained, warm-started, served, reported
    and exported.

    Subclasses set the class attributes and implement ``read``, ``train`` and
    ``example_input``; the other methods have defaults that suit inputs encoded to one tensor
    per batch. ``train`` passes ``modalities.evaluation.store_evaluation`` to the engine's
    ``finish_bundle``, so that the bundle keeps the evaluation its report is drawn from.
    """

    name: ClassVar[str]
    processor: ClassVar[type[Processor]]  # saved and loaded with every bundle
    options: ClassVar[type]  # the training options dataclass (fields made with ``option``)
    reader: ClassVar[type] = NoReadOptions  # the data reader's options dataclass
    input_type: ClassVar[str]  # what the service receives: "text" (/classify) or "image"
    command: ClassVar[str]  # the CLI command that trains it
    summary: ClassVar[str]  # that command's one-line help
    data_help: ClassVar[str] = "labelled data"
    export: ClassVar[ModalityExport | None] = None  # how its networks export; None: they don't

    @abstractmethod
    def read(self, path: Path, options: Any) -> Any:
        """A labelled data set (see ``engine.splits.LabelledData``) read from ``path``."""

    def read_training(self, path: Path, options: Any) -> tuple[Any, Path | None]:
        """The training data at ``path`` and a test set it names, if any."""
        return self.read(path, options), None

    @abstractmethod
    def train(
        self,
        data: Any,
        opts: Any,
        *,
        labels: list[str] | None = None,
        dev: Any = None,
        test: Any = None,
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
        warm_start: Bundle | None = None,
    ) -> Bundle:
        """Train a bundle; ``labels`` are ``training_labels(data, dev, test)`` when the caller
        has checked the data already, ``warm_start`` a bundle to continue from."""

    @abstractmethod
    def example_input(self) -> Any:
        """A raw input that any model of this modality can encode (warms a served model up)."""

    def limits(self, processor: Any) -> dict[str, Any]:
        """What a model's ``processor`` takes of an input (a text's tokens, say), as the
        service's /models shows it beside the service's own input limits."""
        return {}

    def serving(self, predictor: Predictor) -> Serving:
        """How the service batches requests: ``encode`` runs per request, ``collate`` joins a
        batch's encodings, ``forward`` runs once on them. An undecodable input raises
        ``errors.InputError``."""
        return Serving(predictor.encode, predictor.collate, predictor.predict_encoded)

    def explainable(self, predictor: Predictor) -> bool:
        """Whether ``explain`` can say why ``predictor`` chose its labels."""
        return False

    def explain(self, predictor: Predictor, items: Sequence[Any], top: int) -> list[Any]:
        raise NotImplementedError(f"{self.name} models have no explanations")

    def report_item(self, item: Any) -> dict[str, Any]:
        """How a mistaken ``item`` shows in a report's record: ``{"text": str}`` or
        ``{"image": base64 PNG}``, the kinds the page draws; by default not at all."""
        return {}


_MODALITIES: dict[str, Modality] = {}


def register_modality(cls: type[Modality]) -> type[Modality]:
    """Class decorator: make an instance of ``cls`` available as ``cls.name``."""
    _MODALITIES[cls.name] = cls()
    register_processor(cls.name, cls.processor)
    return cls


def get_modality(name: str) -> Modality:
    if name not in _MODALITIES:
        raise KeyError(f"unknown modality {name!r}; available: {', '.join(list_modalities())}")
    return _MODALITIES[name]


def list_modalities() -> list[str]:
    return sorted(_MODALITIES)

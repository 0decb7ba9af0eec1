"""A third modality, written as a plug-in would be: rows of numbers (``"0.5 1.2 -3"``, one
row a line after its label) classified by a small 1-d CNN built from ``models.blocks``.

Importing this module registers the ``numbers`` modality and the ``rowcnn`` architecture;
nothing else in textcnn or the service knows about them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from textcnn.engine.bundle import Bundle
from textcnn.engine.config import TrainConfig, option
from textcnn.engine.finish import finish_bundle
from textcnn.engine.splits import training_labels
from textcnn.engine.trainer import Split, fit
from textcnn.engine.warmstart import check_warm_start
from textcnn.errors import DataError, InputError
from textcnn.modalities import Modality, NoReadOptions, register_modality
from textcnn.modalities.evaluation import store_evaluation
from textcnn.models import create_model, register_model
from textcnn.models.blocks import Classifier, ClassifierHead, ConvBank1d

ARCH = "rowcnn"


@dataclass
class RowCNNConfig:
    num_classes: int
    maps: int = 8
    width: int = 3
    dropout: float = 0.0
    max_norm: float | None = None


class RowEncoder(nn.Module):
    """``[B, L]`` numbers to ``[B, maps]`` features: one convolution bank, max over the row."""

    def __init__(self, cfg: RowCNNConfig) -> None:
        super().__init__()
        self.convs = ConvBank1d(1, (cfg.width,), cfg.maps)
        self.out_features = self.convs.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lengths = torch.full((len(x),), x.shape[-1], device=x.device)
        return self.convs(x.unsqueeze(1), lengths)


@register_model(ARCH, modality="numbers", config=RowCNNConfig)
def rowcnn(cfg: RowCNNConfig) -> Classifier:
    encoder = RowEncoder(cfg)
    head = ClassifierHead(encoder.out_features, cfg.num_classes, cfg.dropout, cfg.max_norm)
    return Classifier(encoder, head)


@dataclass
class NumbersProcessor:
    """Rows as text (``"1 2.5 -3"``) to ``float32 [N, length]``, zero-padded or cut."""

    length: int

    modality = "numbers"

    def encode(self, items: Sequence[str]) -> torch.Tensor:
        out = torch.zeros(len(items), self.length)
        for row, item in enumerate(items):
            try:
                values = [float(v) for v in item.split()][: self.length]
            except ValueError:
                raise InputError(f"not a row of numbers: {item[:40]!r}") from None
            out[row, : len(values)] = torch.tensor(values)
        return out

    def to_config(self) -> dict[str, Any]:
        return {"modality": self.modality, "length": self.length}

    def save(self, directory: Path) -> list[str]:
        return []

    @classmethod
    def load(cls, directory: Path, config: dict[str, Any]) -> NumbersProcessor:
        return cls(config["length"])


@dataclass
class RowsDataset:
    items: list[str]
    labels: list[str]
    lines: list[int]
    source: str
    fingerprint: str

    def __len__(self) -> int:
        return len(self.items)

    def locate(self, index: int) -> tuple[str, int]:
        return self.source, self.lines[index]

    def subset(self, indices: list[int]) -> RowsDataset:
        pick = lambda values: [values[i] for i in indices]  # noqa: E731
        return RowsDataset(
            pick(self.items), pick(self.labels), pick(self.lines), self.source, self.fingerprint
        )


def read_rows(path: Path) -> RowsDataset:
    """``<label> <number> <number> ...`` lines."""
    if not Path(path).is_file():
        raise DataError(path, "no such file")
    raw = Path(path).read_bytes()
    rows = [
        (n, *line.partition(" ")[::2])
        for n, line in enumerate(raw.decode().splitlines(), 1)
        if line.strip()
    ]
    return RowsDataset(
        [r[2] for r in rows],
        [r[1] for r in rows],
        [r[0] for r in rows],
        str(path),
        hashlib.sha256(raw).hexdigest(),
    )


@dataclass
class NumbersTrainOptions:
    length: int = option(8, "numbers per row (shorter rows are zero-padded)")
    maps: int = option(8, "feature maps")
    width: int = option(3, "convolution width")
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=30, batch_size=16, optimizer="adam", lr=0.03)
    )


@register_modality
class NumbersModality(Modality):
    name = "numbers"
    processor = NumbersProcessor
    options = NumbersTrainOptions
    reader = NoReadOptions
    input_type = "text"  # rows arrive as strings, at /classify
    command = "train-numbers"
    summary = "train a row-of-numbers classifier"
    data_help = "<label> <numbers...> lines"

    def read(self, path: Path, options: NoReadOptions) -> RowsDataset:
        return read_rows(path)

    def train(
        self,
        data: RowsDataset,
        opts: NumbersTrainOptions,
        *,
        labels: list[str] | None = None,
        dev: RowsDataset | None = None,
        test: RowsDataset | None = None,
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
        warm_start: Bundle | None = None,
    ) -> Bundle:
        labels = labels or training_labels(data, dev, test)
        cfg = RowCNNConfig(num_classes=len(labels), maps=opts.maps, width=opts.width)
        processor = NumbersProcessor(opts.length)
        torch.manual_seed(opts.train.seed)
        model = create_model(ARCH, cfg)
        if warm_start is not None:
            old = warm_start.model_config
            settings = {"maps": (old.maps, cfg.maps), "width": (old.width, cfg.width)}
            check_warm_start(warm_start, ARCH, settings, labels)
            model.load_state_dict(warm_start.model.state_dict())
        label_id = {label: i for i, label in enumerate(labels)}

        def split(rows: RowsDataset) -> Split:
            y = torch.tensor([label_id[label] for label in rows.labels])
            return Split(processor.encode(rows.items), y)

        dev_split = split(dev) if dev is not None else None
        result = fit(model, split(data), dev_split, opts.train, on_epoch=on_epoch)
        return finish_bundle(
            model,
            arch=ARCH,
            model_config=cfg,
            processor=processor,
            labels=labels,
            options=opts,
            result=result,
            train=data,
            dev=dev,
            test=test,
            store_evaluation=store_evaluation,
        )

    def example_input(self) -> str:
        return "0"

    def limits(self, processor: NumbersProcessor) -> dict[str, Any]:
        return {"max_numbers": processor.length}

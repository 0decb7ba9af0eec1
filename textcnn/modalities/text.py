"""The text modality: labelled text files, token ids, TextCNN training, explanations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textcnn.modalities.registry import Modality, Serving, register_modality
from textcnn.text.data import TextDataset, TextReadOptions, detect_format, read_text_dataset
from textcnn.text.options import TextTrainOptions
from textcnn.text.processor import TextProcessor

if TYPE_CHECKING:
    from textcnn.engine.bundle import Bundle
    from textcnn.engine.predictor import Predictor


@register_modality
class TextModality(Modality):
    """Labelled text files in; TextCNN models with exact n-gram explanations out."""

    name = "text"
    processor = TextProcessor
    options = TextTrainOptions
    reader = TextReadOptions
    input_type = "text"
    command = "train"
    summary = "train a TextCNN sentence classifier"
    data_help = "labelled text file"

    def read(self, path: Path, options: TextReadOptions) -> TextDataset:
        fmt = detect_format(path) if options.format == "auto" else options.format
        return read_text_dataset(
            path,
            options.format,
            options.text_column,
            options.label_column,
            options.on_bad_lines,
            options.separator(fmt) if options.multi_label else None,
        )

    def train(
        self,
        data: TextDataset,
        opts: TextTrainOptions,
        *,
        labels: list[str] | None = None,
        dev: TextDataset | None = None,
        test: TextDataset | None = None,
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
        warm_start: Bundle | None = None,
    ) -> Bundle:
        from textcnn.text.train import train_text

        return train_text(
            data, opts, dev, test, on_epoch=on_epoch, warm_start=warm_start, labels=labels
        )

    def example_input(self) -> str:
        return "warm up"

    def limits(self, processor: TextProcessor) -> dict[str, Any]:
        return {"max_tokens": processor.max_length}

    def serving(self, predictor: Predictor) -> Serving:
        """A model with a sentence-encoder term needs each batch's texts beside its ids."""
        if predictor.input_scores is None:
            return super().serving(predictor)

        def collate(parts: Sequence[tuple[Any, list[str]]]) -> tuple[Any, list[str]]:
            ids = predictor.collate([x for x, _ in parts])
            return ids, [text for _, texts in parts for text in texts]

        return Serving(
            lambda texts: (predictor.encode(texts), list(texts)),
            collate,
            lambda batch: predictor.predict_encoded(*batch),
        )

    def explainable(self, predictor: Predictor) -> bool:
        from textcnn.text.explain import supports_explanations

        return supports_explanations(predictor)

    def explain(self, predictor: Predictor, items: Sequence[str], top: int) -> list[Any]:
        from textcnn.text.explain import explain

        return explain(predictor, items, top)

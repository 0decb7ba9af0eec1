"""The text modality: labelled text files, token ids, TextCNN training, explanations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from textcnn.engine.bundle import Bundle
from textcnn.modalities.evaluation import store_evaluation
from textcnn.modalities.registry import (
    InputSpec,
    Modality,
    ModalityExport,
    Serving,
    register_modality,
)
from textcnn.text import sentence_term  # noqa: F401  (supplies the sentence term's embeddings)
from textcnn.text.data import TextDataset, TextReadOptions, detect_format, read_text_dataset
from textcnn.text.options import TextTrainOptions
from textcnn.text.processor import TextProcessor
from textcnn.text.tokenize import tokenizer_spec
from textcnn.text.vocab import PAD, UNK

if TYPE_CHECKING:
    from textcnn.engine.predictor import Predictor


def _text_preprocessing(processor: Any) -> dict[str, Any]:
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
    vocab, longest = bundle.processor.vocab, bundle.processor.max_length
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1, len(vocab), (8, longest), generator=generator)
    ids[1:, 0] = vocab.stoi[UNK]
    ids[0, -1] = len(vocab) - 1
    lengths = torch.randint(1, longest + 1, (8,), generator=generator)
    lengths[0] = longest
    ids[torch.arange(longest) >= lengths[:, None]] = 0
    return [ids]


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
    export = ModalityExport(
        input=lambda processor: InputSpec("ids", ("batch", "sequence"), "int64"),
        sample=_text_sample,
        preprocessing=_text_preprocessing,
        check=_text_check,
    )

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
            data,
            opts,
            dev,
            test,
            on_epoch=on_epoch,
            warm_start=warm_start,
            labels=labels,
            store_evaluation=store_evaluation,
        )

    def example_input(self) -> str:
        return "warm up"

    def limits(self, processor: TextProcessor) -> dict[str, Any]:
        return {"max_tokens": processor.max_length}

    def serving(self, predictor: Predictor) -> Serving:
        """A model with a sentence term needs each batch's texts beside its ids."""
        if predictor.input_term is None:
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

    def report_item(self, item: str) -> dict[str, Any]:
        return {"text": item}

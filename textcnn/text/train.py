"""Train a TextCNN from labelled text files: data checks, vocabulary, vectors, model, bundle."""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import torch
from gensim.models import KeyedVectors
from sklearn.model_selection import StratifiedKFold

from textcnn.engine.bundle import Bundle
from textcnn.engine.config import TrainConfig
from textcnn.engine.device import resolve_device
from textcnn.engine.distributed import launched_distributed
from textcnn.engine.finish import finish_bundle
from textcnn.engine.optim import supports_sparse_grads
from textcnn.engine.splits import dev_split, training_labels
from textcnn.engine.trainer import Split, fit
from textcnn.errors import DataError
from textcnn.models import create_model
from textcnn.models.textcnn import PAD_ID, TextCNNConfig
from textcnn.text import warmstart
from textcnn.text.data import TextDataset
from textcnn.text.embeddings import embedding_table, load_vectors, needs_vocabulary
from textcnn.text.options import TextTrainOptions
from textcnn.text.processor import TextProcessor
from textcnn.text.vocab import UNK_ID, Vocab

log = logging.getLogger(__name__)


class TextBatches:
    """In training, replace each word by the unknown word with probability ``word_dropout``
    (``fit`` has already cut each batch's padding, from the split's lengths)."""

    def __init__(self, word_dropout: float = 0.0) -> None:
        self.word_dropout = word_dropout

    def train(self, x: torch.Tensor) -> torch.Tensor:
        if self.word_dropout > 0:
            drop = (torch.rand(x.shape, device=x.device) < self.word_dropout) & (x != PAD_ID)
            x = x.masked_fill(drop, UNK_ID)
        return x

    def eval(self, x: torch.Tensor) -> torch.Tensor:
        return x


def build_model(
    opts: TextTrainOptions,
    processor: TextProcessor,
    trained_vocab_size: int,
    num_classes: int,
    vectors: KeyedVectors | None,
) -> tuple[torch.nn.Module, TextCNNConfig]:
    dim = vectors.vector_size if vectors is not None else opts.dim
    cfg = TextCNNConfig(
        vocab_size=len(processor.vocab),
        num_classes=num_classes,
        mode=opts.mode,
        dim=dim,
        trained_vocab_size=trained_vocab_size,
        filter_widths=opts.filter_widths,
        feature_maps=opts.feature_maps,
        dropout=opts.dropout,
        max_norm=opts.max_norm,
    )
    torch.manual_seed(opts.train.seed)
    model = create_model("textcnn", cfg)
    if vectors is not None:
        table, found = embedding_table(vectors, processor.vocab.itos, opts.train.seed)
        log.info("pretrained vectors for %d of %d words", found, len(processor.vocab))
        model.encoder.load_pretrained(torch.from_numpy(table))
    return model, cfg


def vectors_for(
    opts: TextTrainOptions,
    vectors: KeyedVectors | None = None,
    corpus: Sequence[Sequence[str]] | None = None,
) -> KeyedVectors | None:
    """``vectors`` if given, else those ``opts.embeddings`` names when its mode needs them.

    Sources made from the training text (``minilm``, ``word2vec-train``) need its tokens,
    ``corpus``: without it they are left to ``train_text`` (per split, per fold), as ``None``.
    """
    if vectors is not None or not opts.needs_vectors:
        return vectors
    if corpus is None and needs_vocabulary(opts.embeddings):
        return None
    return load_vectors(
        opts.embeddings, opts.embeddings_limit, corpus or (), opts.encoder_dim, opts.train.seed
    )


def _sparse_embedding_grads(cfg: TrainConfig) -> bool:
    """Whether to train the embedding table with sparse gradients and lazy row updates.

    Exact for Adadelta without weight decay, and on the CPU a step then costs the batch's
    rows instead of passes over the whole table; kept off for DDP and torch.compile.
    """
    return (
        supports_sparse_grads(cfg.optimizer, cfg.weight_decay)
        and resolve_device(cfg.device).type == "cpu"
        and not launched_distributed()
        and not cfg.compile
    )


def train_text(
    train: TextDataset,
    opts: TextTrainOptions,
    dev: TextDataset | None = None,
    test: TextDataset | None = None,
    vectors: KeyedVectors | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    warm_start: Bundle | None = None,
    labels: list[str] | None = None,
) -> Bundle:
    """Train one model; ``dev`` defaults to a stratified holdout of ``train``.

    ``warm_start``: continue from that bundle's weights and vocabulary (``text.warmstart``).
    ``labels``: ``training_labels(train, dev, test)``, when the caller has checked them.
    """
    labels = labels or training_labels(train, dev, test)
    if warm_start is not None:
        warmstart.check_compatible(warm_start, opts, labels)
    if dev is None:
        train, dev = dev_split(train, opts.dev_fraction, opts.train.seed)
    tokenizer = TextProcessor(Vocab.build([]), opts.tokenizer, opts.lowercase, opts.max_length)
    train_tokens = [tokenizer.tokenize(t) for t in train.texts]
    vectors = vectors_for(opts, vectors, train_tokens)
    if warm_start is not None:
        vocab, trained_vocab_size = warmstart.extend_vocab(warm_start, train_tokens, opts, vectors)
    else:
        vocab = Vocab.build(train_tokens, opts.min_count, opts.max_vocab)
        trained_vocab_size = len(vocab)
        if vectors is not None and opts.pretrained_vocab:
            vocab = vocab.extend(vectors.index_to_key[: opts.pretrained_vocab])
    processor = TextProcessor(vocab, opts.tokenizer, opts.lowercase, opts.max_length)
    model, cfg = build_model(opts, processor, trained_vocab_size, len(labels), vectors)
    if warm_start is not None:
        warmstart.transfer_weights(warm_start, model, vocab, labels)
    label_id = {label: i for i, label in enumerate(labels)}

    def split(data: TextDataset, tokens: list[list[str]] | None = None) -> Split:
        x = processor.encode_tokens(tokens) if tokens is not None else processor.encode(data.texts)
        y = torch.tensor([label_id[label] for label in data.labels])
        return Split(x, y, lengths=(x != PAD_ID).sum(dim=1))

    lazy_rows = _sparse_embedding_grads(opts.train)
    model.encoder.sparse_grads(lazy_rows)
    batches = TextBatches(opts.word_dropout)
    result = fit(model, split(train, train_tokens), split(dev), opts.train, batches, on_epoch)
    model.encoder.sparse_grads(False)
    return finish_bundle(
        model.cpu(),
        arch="textcnn",
        model_config=cfg,
        processor=processor,
        labels=labels,
        options=opts,
        result=result,
        train=train,
        dev=dev,
        test=test,
        training={"dropped_lines": train.dropped_lines},
    )


def cross_validate(
    data: TextDataset,
    opts: TextTrainOptions,
    folds: int,
    vectors: KeyedVectors | None = None,
    labels: list[str] | None = None,
) -> dict[str, Any]:
    """Stratified, seeded K-fold CV: per-fold and mean/std test accuracy.

    ``labels``: ``training_labels(data)``, when the caller has checked them. The folds are
    not checked again: the per-class minimum below gives each of them every class.
    """
    labels = labels or training_labels(data)
    smallest = min(labels, key=data.labels.count)
    if data.labels.count(smallest) < folds:
        raise DataError(
            data.path,
            f"class {smallest!r} has {data.labels.count(smallest)} examples; "
            f"{folds}-fold cross-validation needs at least {folds} per class",
        )
    vectors = vectors_for(opts, vectors)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=opts.train.seed)
    results = []
    for fold, (train_idx, test_idx) in enumerate(splitter.split(data.texts, data.labels), 1):
        train, test = data.subset(list(train_idx)), data.subset(list(test_idx))
        bundle = train_text(train, opts, test=test, vectors=vectors, labels=labels)
        fold_result = {
            "fold": fold,
            "test_accuracy": bundle.metrics["test_accuracy"],
            "dev_accuracy": bundle.metrics["dev_accuracy"],
            "best_epoch": bundle.metrics["best_epoch"],
            "seconds_per_epoch": bundle.training["result"]["seconds_per_epoch"],
        }
        log.info("fold %d/%d: test accuracy %.4f", fold, folds, fold_result["test_accuracy"])
        results.append(fold_result)
    accs = [r["test_accuracy"] for r in results]
    return {
        "folds": results,
        "mean_accuracy": statistics.fmean(accs),
        "std_accuracy": statistics.pstdev(accs),
        "labels": labels,
        "mode": opts.mode,
        "embeddings": opts.embeddings,
    }

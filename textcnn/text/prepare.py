"""Everything text training does before the fit: the data checks, vocabulary, vectors, model
(warm-started or new) and encoded splits, with a teacher's soft labels when one is asked for."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch
from gensim.models import KeyedVectors

from textcnn.engine.bundle import Bundle
from textcnn.engine.config import TrainConfig
from textcnn.engine.device import configure_cpu, resolve_device
from textcnn.engine.distributed import launched_distributed, rank_device
from textcnn.engine.multilabel import label_matrix
from textcnn.engine.optim import supports_sparse_grads
from textcnn.engine.splits import dev_split, training_labels
from textcnn.engine.trainer import Split
from textcnn.errors import DataError
from textcnn.models import create_model
from textcnn.models.textcnn import TextCNNConfig
from textcnn.text import distill, teacher, warmstart
from textcnn.text.data import TextDataset
from textcnn.text.embeddings import embedding_table, load_vectors, needs_vocabulary
from textcnn.text.finish import train_prepared
from textcnn.text.options import TextTrainOptions
from textcnn.text.prepared import PreparedText, TextBatches, text_split
from textcnn.text.processor import TextProcessor
from textcnn.text.sentence_term import remembering
from textcnn.text.vocab import Vocab

log = logging.getLogger(__name__)


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
        ngram_buckets=opts.ngram_buckets,
        sentence_encoder=opts.sentence_encoder,
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


def prepare_text(
    train: TextDataset,
    opts: TextTrainOptions,
    dev: TextDataset | None = None,
    test: TextDataset | None = None,
    vectors: KeyedVectors | None = None,
    warm_start: Bundle | None = None,
    labels: list[str] | None = None,
) -> PreparedText:
    """Everything ``train_text`` does before the fit (see there for the arguments)."""
    check_multi_label(opts, train, dev, test)
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

    def targets(data: TextDataset) -> torch.Tensor:
        if data.label_sets is not None:
            return label_matrix(data.label_sets, labels)
        return torch.tensor([label_id[label] for label in data.labels])

    def split(data: TextDataset, tokens: list[list[str]] | None = None) -> Split:
        x = processor.encode_tokens(tokens) if tokens is not None else processor.encode(data.texts)
        return text_split(x, targets(data))

    train_split, distilled = split(train, train_tokens), None
    if opts.teacher is not None:
        train_split = taught_split(opts, train, train_tokens, train_split, processor, len(labels))
    elif opts.distill is not None:
        train_split, distilled = distilled_split(
            opts, train, dev, train_tokens, train_split, processor, labels, vectors
        )

    return PreparedText(
        model=model,
        model_config=cfg,
        processor=processor,
        labels=labels,
        train=train,
        dev=dev,
        test=test,
        train_split=train_split,
        dev_split=split(dev),
        batches=TextBatches(opts.word_dropout),
        lazy_rows=_sparse_embedding_grads(opts.train),
        distilled=distilled,
    )


def check_multi_label(opts: TextTrainOptions, *data: TextDataset | None) -> None:
    """Fail unless every data set was read as ``opts.multi_label`` says; log a summary of
    multi-label training data (how many labels a text has, how many have none)."""
    for d in data:
        if d is not None and (d.label_sets is not None) != opts.multi_label:
            raise DataError(
                d.path,
                "was read as multi-label data for a single-label model"
                if opts.multi_label is False
                else "was read with one label per text; `multi_label` training needs label "
                "sets (read it with a `label_separator`)",
            )
    train = data[0]
    if opts.multi_label and train is not None and train.label_sets is not None:
        sizes = Counter(len(s) for s in train.label_sets)
        log.info(
            "%s: %d texts, labels per text %s; %d with no label",
            train.path,
            len(train),
            ", ".join(f"{k}: {v}" for k, v in sorted(sizes.items())),
            sizes[0],
        )


def taught_split(
    opts: TextTrainOptions,
    train: TextDataset,
    tokens: list[list[str]],
    split: Split,
    processor: TextProcessor,
    num_classes: int,
) -> Split:
    """``split`` with the teacher's logits, plus ``opts.augment`` augmented copies of each
    text that the teacher labels (their targets: its decisions)."""
    configure_cpu(opts.train.threads)
    extra = augmented(opts, tokens)
    cfg = teacher.TeacherConfig(epochs=opts.teacher_epochs, seed=opts.train.seed)
    score = [*train.texts, *(" ".join(t) for t in extra)]
    # under torchrun every rank teaches itself on its own GPU (the same data, seed and cache)
    device = rank_device(resolve_device(opts.train.device))
    soft = teacher.teacher_logits(
        opts.teacher, train.texts, split.y, num_classes, score, cfg, device
    )
    if not extra:
        return Split(split.x, split.y, split.lengths, soft)
    taught = soft[len(train) :]
    decided = (taught > 0).float() if split.multi_label else taught.argmax(1)
    x = processor.encode_tokens([*tokens, *extra])
    return text_split(x, torch.cat([split.y, decided.to(split.y.dtype)]), soft)


def distilled_split(
    opts: TextTrainOptions,
    train: TextDataset,
    dev: TextDataset,
    tokens: list[list[str]],
    split: Split,
    processor: TextProcessor,
    labels: list[str],
    vectors: KeyedVectors | None,
) -> tuple[Split, dict[str, Any]]:
    """``split`` with the soft labels of ``--distill``'s teacher (``text.distill``), plus
    ``opts.augment`` augmented copies of each text that it labels (their targets: its
    decisions); and what to record of the teacher."""
    extra = augmented(opts, tokens)
    teacher_opts = distill.teacher_options(opts)

    def fit() -> Bundle:
        log.info("fitting the teacher: the recipe with the sentence term")
        prepared = prepare_text(train, teacher_opts, dev=dev, vectors=vectors, labels=labels)
        return train_prepared(prepared, teacher_opts)

    with remembering():  # the teacher's training texts are embedded once, fitted and scored
        logits, record = distill.teacher_labels(
            distill.teacher_key(opts, train, dev),
            distill.rows(train.texts, tokens, extra),
            len(labels),
            fit,
        )
    soft = logits / opts.distill_temperature
    y = torch.cat([split.y, logits[len(train) :].argmax(1).to(split.y.dtype)])
    x = processor.encode_tokens([*tokens, *extra]) if extra else split.x
    return text_split(x, y, soft), record


def augmented(opts: TextTrainOptions, tokens: list[list[str]]) -> list[list[str]]:
    """``opts.augment`` altered copies of each text's ``tokens`` (``teacher.augment``)."""
    return teacher.augment(
        tokens, opts.augment or 0, opts.train.seed, opts.augment_mask, opts.augment_window
    )

"""Train a TextCNN from labelled text files: data checks, vocabulary, vectors, model, bundle."""

from __future__ import annotations

import logging
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from gensim.models import KeyedVectors
from sklearn.model_selection import KFold, StratifiedKFold

from textcnn.engine.bundle import Bundle
from textcnn.engine.config import TrainConfig
from textcnn.engine.device import configure_cpu, resolve_device
from textcnn.engine.distributed import launched_distributed, rank_device
from textcnn.engine.finish import StoreEvaluation, finish_bundle, headline_metric
from textcnn.engine.multilabel import label_matrix
from textcnn.engine.optim import supports_sparse_grads
from textcnn.engine.splits import dev_split, training_labels
from textcnn.engine.trainer import Split, TrainResult, fit, predict_logits
from textcnn.errors import DataError
from textcnn.models import create_model
from textcnn.models.blocks import Classifier
from textcnn.models.textcnn import TextCNNConfig
from textcnn.models.token_ids import PAD_ID, UNK_ID
from textcnn.text import distill, fold_parallel, teacher, warmstart
from textcnn.text.data import TextDataset
from textcnn.text.embeddings import embedding_table, load_vectors, needs_vocabulary
from textcnn.text.nbsvm import fit_ngram_scores
from textcnn.text.options import TextTrainOptions
from textcnn.text.processor import TextProcessor
from textcnn.text.sentence_term import fit_sentence_term, remembering
from textcnn.text.vocab import Vocab

log = logging.getLogger(__name__)
CV_METRICS = {  # by multi-label: what cross-validation reports per fold, and mean and std of
    False: ("accuracy",),
    True: ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss"),
}


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


@dataclass
class PreparedText:
    """One text model ready to fit: its network, vocabulary, encoded splits and data."""

    model: Classifier
    model_config: TextCNNConfig
    processor: TextProcessor
    labels: list[str]
    train: TextDataset
    dev: TextDataset
    test: TextDataset | None
    train_split: Split
    dev_split: Split
    batches: TextBatches
    lazy_rows: bool
    distilled: dict[str, Any] | None = None  # what ``--distill``'s teacher did, to record


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
    device = rank_device(resolve_device(opts.train.device), int(os.environ.get("LOCAL_RANK", 0)))
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
        return train_text(train, teacher_opts, dev=dev, vectors=vectors, labels=labels)

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


def text_split(x: torch.Tensor, y: torch.Tensor, soft: torch.Tensor | None = None) -> Split:
    """Padded ids ``x`` with their targets, and the row lengths ``fit`` batches by."""
    return Split(x, y, lengths=(x != PAD_ID).sum(dim=1), soft=soft)


def finish_text(
    prepared: PreparedText,
    opts: TextTrainOptions,
    result: TrainResult,
    store_evaluation: StoreEvaluation | None = None,
) -> Bundle:
    """The fitted model of ``prepared`` as a bundle, evaluated on its test data if any;
    its n-gram scores, if it has them, fitted first (``text.nbsvm``); ``store_evaluation``:
    see ``finish_bundle``."""
    with remembering():  # the dev and test texts' sentence embeddings, if any, are reused
        return _finish_text(prepared, opts, result, store_evaluation)


def _finish_text(
    prepared: PreparedText,
    opts: TextTrainOptions,
    result: TrainResult,
    store_evaluation: StoreEvaluation | None,
) -> Bundle:
    model = prepared.model.cpu()
    training: dict[str, Any] = {"dropped_lines": prepared.train.dropped_lines}
    if model.side is not None:
        training["ngrams"] = fit_ngram_scores(model, prepared.train_split, prepared.dev_split)
        prepared.model_config.ngram_rows = len(model.side.table)
    if model.input_term is not None and len(prepared.dev):
        device = resolve_device(opts.train.device)  # the encoder runs where training did
        training["sentence_encoder"] = fit_input_term(model, prepared, device, opts.sentence_int8)
        prepared.model_config.sentence_runtime = model.input_term.runtime
    if prepared.distilled is not None:
        training["distill"] = prepared.distilled
    bundle = finish_bundle(
        model,
        arch="textcnn",
        model_config=prepared.model_config,
        processor=prepared.processor,
        labels=prepared.labels,
        options=opts,
        result=result,
        train=prepared.train,
        dev=prepared.dev,
        test=prepared.test,
        training=training,
        threshold=opts.threshold,
        store_evaluation=store_evaluation,
    )
    if "sentence_encoder" in training:  # the whole model's
        bundle.metrics[f"dev_{result.dev_metric}"] = training["sentence_encoder"]["dev"]
    elif "ngrams" in training and training["ngrams"]["dev_by_weight"]:  # the whole network's
        weight = str(training["ngrams"]["weight"])
        bundle.metrics[f"dev_{result.dev_metric}"] = training["ngrams"]["dev_by_weight"][weight]
    return bundle


@torch.no_grad()
def fit_input_term(
    model: Classifier,
    prepared: PreparedText,
    device: torch.device | None = None,
    int8: bool = False,
) -> dict[str, Any]:
    """Fit ``model.input_term`` (a ``SentenceTerm``) on the training texts and choose its
    weight and gate on dev data, beside the network as it stands, n-gram scores included, and
    (``int8``) its encoder's runtime (``text.sentence_term``), its encoder on ``device``;
    returns what to record of it."""
    dev = prepared.dev_split
    network = predict_logits(model, dev.x.cpu(), lengths=dev.lengths.cpu()).cpu()
    return fit_sentence_term(
        model.input_term,
        prepared.train.texts,
        prepared.train_split.y,
        prepared.dev.texts,
        dev.y,
        network,
        device,
        int8,
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
    store_evaluation: StoreEvaluation | None = None,
) -> Bundle:
    """Train one model; ``dev`` defaults to a stratified holdout of ``train``.

    ``warm_start``: continue from that bundle's weights and vocabulary (``text.warmstart``).
    ``labels``: ``training_labels(train, dev, test)``, when the caller has checked them.
    ``store_evaluation``: records the evaluation a report is drawn from (``finish_bundle``).
    """
    prepared = prepare_text(train, opts, dev, test, vectors, warm_start, labels)
    result = fit_prepared([prepared], opts.train, on_epoch)[0]
    return finish_text(prepared, opts, result, store_evaluation)


def fit_prepared(
    prepared: list[PreparedText],
    cfg: TrainConfig,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    parallel: bool = False,
) -> list[TrainResult]:
    """Fit each prepared model, one after the other or (``parallel``) all together."""
    for p in prepared:
        p.model.encoder.sparse_grads(p.lazy_rows)
    if parallel:
        models = [p.model for p in prepared]
        trains = [p.train_split for p in prepared]
        devs = [p.dev_split for p in prepared]
        results = fold_parallel.fit_folds(models, trains, devs, cfg, prepared[0].batches)
    else:
        results = [
            fit(p.model, p.train_split, p.dev_split, cfg, p.batches, on_epoch) for p in prepared
        ]
    for p in prepared:
        p.model.encoder.sparse_grads(False)
    return results


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


def cross_validate(
    data: TextDataset,
    opts: TextTrainOptions,
    folds: int,
    vectors: KeyedVectors | None = None,
    labels: list[str] | None = None,
    parallel: bool | None = None,
) -> dict[str, Any]:
    """Stratified, seeded K-fold CV: per-fold and mean/std test accuracy (micro-F1 for
    multi-label data, with macro- and samples F1, subset accuracy and Hamming loss).

    ``labels``: ``training_labels(data)``, when the caller has checked them. The folds are
    not checked again: the per-class minimum below gives each of them every class. Multi-label
    folds are plain shuffled ones (label sets are too many to stratify by).
    ``parallel``: train the folds side by side (``text.fold_parallel``); ``None`` does so on
    an accelerator when they fit in memory, ``True`` wherever the setting allows it.
    """
    labels = labels or training_labels(data)
    multi = data.label_sets is not None
    counts = Counter(x for s in data.label_sets for x in s) if multi else Counter(data.labels)
    smallest = min(labels, key=lambda label: counts[label])
    if counts[smallest] < folds:
        raise DataError(
            data.path,
            f"class {smallest!r} has {counts[smallest]} examples; "
            f"{folds}-fold cross-validation needs at least {folds} per class",
        )
    vectors = vectors_for(opts, vectors)
    kind = KFold if multi else StratifiedKFold
    splitter = kind(n_splits=folds, shuffle=True, random_state=opts.train.seed)
    prepared = [
        prepare_text(
            data.subset(list(tr)), opts, test=data.subset(list(te)), vectors=vectors, labels=labels
        )
        for tr, te in splitter.split(data.texts, data.labels)
    ]
    together = _fold_parallel(parallel, prepared, opts.train)
    started = time.perf_counter()
    fitted = fit_prepared(prepared, opts.train, parallel=together)
    seconds = time.perf_counter() - started
    results = []
    with remembering():  # every fold embeds texts the others embed
        for fold, (p, result) in enumerate(zip(prepared, fitted, strict=True), 1):
            bundle = finish_text(p, opts, result)
            headline = headline_metric(bundle)
            report = bundle.metrics["test"]
            fold_result = {
                "fold": fold,
                **{f"test_{k}": report[k] for k in CV_METRICS[multi]},
                f"dev_{result.dev_metric}": bundle.metrics[f"dev_{result.dev_metric}"],
                "best_epoch": bundle.metrics["best_epoch"],
                "epochs": len(result.history),
            }
            log.info("fold %d/%d: test %s %.4f", fold, folds, headline, report[headline])
            results.append(fold_result)
    summary: dict[str, Any] = {"folds": results}
    for key in CV_METRICS[multi]:
        values = [r[f"test_{key}"] for r in results]
        summary[f"mean_{key}"] = statistics.fmean(values)
        summary[f"std_{key}"] = statistics.pstdev(values)
    return {
        **summary,
        "labels": labels,
        "mode": opts.mode,
        "embeddings": opts.embeddings,
        "multi_label": multi,
        "fold_parallel": together,
        "train_seconds": round(seconds, 3),
    }


def _fold_parallel(parallel: bool | None, prepared: list[PreparedText], cfg: TrainConfig) -> bool:
    """Whether to train the folds side by side (see ``cross_validate``), saying why not when
    it was asked for."""
    if parallel is False:
        return False
    device = resolve_device(cfg.device)
    reason = fold_parallel.unsupported(cfg)
    if reason is None:
        models = [p.model for p in prepared]
        need = fold_parallel.planned_bytes(
            models, [p.train_split for p in prepared], cfg.batch_size
        )
        if not fold_parallel.fits_in_memory(need, device):
            reason = f"its estimated {need / 2**30:.1f} GiB not fitting in memory"
    if reason is not None:
        if parallel:
            log.warning("folds trained one by one: fold-parallel CV does not run with %s", reason)
        return False
    return bool(parallel) or device.type != "cpu"

"""``textcnn train`` (TextCNN, with cross-validation) and ``textcnn embeddings train``."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from textcnn.cli.common import add_output_options, print_summary, write_output
from textcnn.cli.options import (
    DefaultsHelpFormatter,
    add_field,
    add_fields,
    cli_fields,
    default_of,
    from_args,
    help_section,
)
from textcnn.engine.config import TrainConfig
from textcnn.engine.finish import headline_metric
from textcnn.engine.splits import training_labels
from textcnn.errors import DataError, TextCNNError
from textcnn.modalities import get_modality
from textcnn.modalities.evaluation import store_evaluation
from textcnn.modalities.text import TextModality
from textcnn.text.data import TextReadOptions, read_text_dataset
from textcnn.text.embeddings import save_vectors, train_word2vec
from textcnn.text.options import TextTrainOptions
from textcnn.text.recipes import RECIPE_KEYS, RECIPES, recipe_options, recipe_value
from textcnn.text.sentence_term import remembering
from textcnn.text.tokenize import TOKENIZERS, get_tokenizer
from textcnn.text.train import cross_validate, train_text, vectors_for

log = logging.getLogger(__name__)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        TextModality.command,
        help=TextModality.summary,
        formatter_class=DefaultsHelpFormatter,
    )
    p.add_argument("--data", type=Path, required=True, help="training file")
    p.add_argument("--dev", type=Path, help="dev file (default: a stratified 10%% holdout)")
    evaluation = p.add_mutually_exclusive_group()
    evaluation.add_argument("--test", type=Path, help="test file, evaluated with the best epoch")
    evaluation.add_argument("--cv", type=int, metavar="K", help="K-fold cross-validation")
    p.add_argument(
        "--cv-parallel",
        action=argparse.BooleanOptionalAction,
        help="train the --cv folds side by side in one batched model (default: on a GPU when "
        "they fit in its memory; on the CPU one by one)",
    )
    add_fields(p, TextReadOptions, group="data")
    p.add_argument(
        "--recipe",
        choices=RECIPES,
        default="default",
        help="where the model and training flags start from: default (chosen on dev data) or "
        "kim2014 (Kim's own setting); flags given override it",
    )
    add_fields(p, TextTrainOptions, skip=RECIPE_KEYS)
    add_fields(p, TrainConfig, default_of(TextTrainOptions, "train"), "training", skip=RECIPE_KEYS)
    for cls, group in ((TextTrainOptions, "model"), (TrainConfig, "training")):
        for f in cli_fields(cls):
            if f.name in RECIPE_KEYS:
                section = help_section(p, f.metadata.get("group") or group)
                add_field(section, f, None, help=f"{f.metadata['help']} {recipe_help(f.name)}")
    add_output_options(p)
    p.set_defaults(func=cmd_train)

    emb = sub.add_parser("embeddings", help="word vectors").add_subparsers(
        dest="embeddings_command", required=True, metavar="ACTION"
    )
    e = emb.add_parser(
        "train",
        help="train Word2Vec on unlabelled text, one document a line",
        formatter_class=DefaultsHelpFormatter,
    )
    e.add_argument("--corpus", type=Path, nargs="+", required=True)
    e.add_argument("--out", type=Path, required=True, help="word2vec binary file to write")
    e.add_argument("--algorithm", choices=["skipgram", "cbow"], default="skipgram")
    e.add_argument("--dim", type=int, default=300)
    e.add_argument("--window", type=int, default=5)
    e.add_argument("--min-count", type=int, default=2)
    e.add_argument("--epochs", type=int, default=10)
    e.add_argument("--seed", type=int, default=1)
    e.add_argument("--workers", type=int, default=2)
    e.add_argument("--tokenizer", choices=sorted(TOKENIZERS), default="kim")
    e.add_argument("--keep-case", action="store_true")
    e.add_argument(
        "--labelled",
        action="store_true",
        help="corpus lines are '<label> <text>': drop the first field",
    )
    e.set_defaults(func=cmd_embeddings_train)


def recipe_help(key: str) -> str:
    """``(default X; kim2014: Y)`` for a flag whose default comes from the recipe."""
    shown = {}
    for name in RECIPES:
        value = recipe_value(name, key)
        shown[name] = ",".join(map(str, value)) if isinstance(value, tuple) else value
    others = "; ".join(f"{name}: {v}" for name, v in shown.items() if name != "default")
    return f"(default {shown['default']}; {others})".replace("%", "%%")


def options_from_args(args: argparse.Namespace) -> TextTrainOptions:
    """The recipe's options with every flag given on the command line applied over them."""
    flags = [*cli_fields(TextTrainOptions), *cli_fields(TrainConfig)]
    values = {f.name: getattr(args, f.name) for f in flags}
    given = {k: v for k, v in values.items() if not (k in RECIPE_KEYS and v is None)}
    try:
        opts = recipe_options(args.recipe, **given)
    except ValueError as exc:
        raise TextCNNError(str(exc)) from exc
    if "embeddings" in given and not opts.needs_vectors:
        raise TextCNNError(
            f"--embeddings needs a --mode other than rand (the {args.recipe} recipe's mode is "
            f"{recipe_value(args.recipe, 'mode')}): add --mode non-static, say"
        )
    return opts


def cmd_train(args: argparse.Namespace) -> int:
    opts = options_from_args(args)
    read = from_args(TextReadOptions, args, multi_label=opts.multi_label)
    if read.label_separator is not None and not opts.multi_label:
        raise TextCNNError("--label-separator reads multi-label data: add --multi-label")
    modality = get_modality(TextModality.name)
    train = modality.read(args.data, read)
    dev = modality.read(args.dev, read) if args.dev else None
    test = modality.read(args.test, read) if args.test else None
    labels = training_labels(train, dev, test)
    if args.cv is not None and args.cv < 2:
        raise TextCNNError("--cv needs at least 2 folds")
    vectors = vectors_for(opts)
    cv = None
    with remembering():  # the folds and the final model embed the same texts (if they do)
        if args.cv:
            cv = cross_validate(train, opts, args.cv, vectors, labels, args.cv_parallel)
        bundle = train_text(
            train,
            opts,
            dev=dev,
            test=test,
            vectors=vectors,
            labels=labels,
            store_evaluation=store_evaluation,
        )
    if cv is not None:
        headline = headline_metric(bundle)
        mean, std = cv[f"mean_{headline}"], cv[f"std_{headline}"]
        log.info("cv: mean %s %.4f (std %.4f)", headline, mean, std)
        bundle.metrics["cv"] = {k: v for k, v in cv.items() if k.startswith(("mean_", "std_"))}
    out = write_output(bundle, args, {"cv.json": json.dumps(cv, indent=2) + "\n"} if cv else None)
    print_summary(out, bundle)
    return 0


def cmd_embeddings_train(args: argparse.Namespace) -> int:
    tokenize = get_tokenizer(args.tokenizer)
    sentences = []
    for path in args.corpus:
        data = read_text_dataset(
            path,
            "label-text" if args.labelled else "auto",
            label_column="label" if args.labelled else None,
        )
        sentences.extend(tokenize(text, not args.keep_case) for text in data.texts)
    if not any(sentences):
        raise DataError(args.corpus[0], "no tokens to train on")
    kv = train_word2vec(
        sentences,
        args.dim,
        args.window,
        args.min_count,
        args.epochs,
        args.algorithm == "skipgram",
        args.seed,
        args.workers,
    )
    if len(kv) == 0:
        raise TextCNNError(f"no word reaches --min-count {args.min_count}; lower it")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_vectors(kv, args.out)
    print(json.dumps({"vectors": str(args.out), "words": len(kv), "dim": kv.vector_size}))
    return 0

"""``textcnn train`` (TextCNN) and ``textcnn embeddings train`` (gensim Word2Vec)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from textcnn.cli.common import (
    DefaultsHelpFormatter,
    add_output_options,
    add_train_options,
    int_list,
    write_output,
)
from textcnn.errors import DataError, TextCNNError
from textcnn.models.textcnn import MODES
from textcnn.text.data import BAD_LINES, FORMATS, TextDataset, read_text_dataset
from textcnn.text.embeddings import needs_vocabulary, save_vectors, train_word2vec
from textcnn.text.recipes import KIM2014, RECIPES, recipe_options, recipe_value
from textcnn.text.tokenize import TOKENIZERS, get_tokenizer
from textcnn.text.train import (
    TextTrainOptions,
    cross_validate,
    load_options_vectors,
    train_text,
    validate_training_data,
)

log = logging.getLogger(__name__)


def add_data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument(
        "--format",
        choices=FORMATS,
        default="auto",
        help="file format (auto: by extension; <label> <text> lines otherwise)",
    )
    g.add_argument("--text-column", default="text", help="CSV/TSV/JSONL text field")
    g.add_argument("--label-column", default="label", help="CSV/TSV/JSONL label field")
    add_bad_lines_option(g)


def add_bad_lines_option(g: argparse._ActionsContainer) -> None:
    g.add_argument(
        "--on-bad-lines",
        choices=BAD_LINES,
        default="error",
        help="an unreadable line: stop (error), drop it and report (warn), or drop it (skip)",
    )


def read(path: Path, args: argparse.Namespace) -> TextDataset:
    return read_text_dataset(
        path, args.format, args.text_column, args.label_column, args.on_bad_lines
    )


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a TextCNN sentence classifier",
        formatter_class=DefaultsHelpFormatter,
    )
    p.add_argument("--data", type=Path, required=True, help="training file")
    p.add_argument("--dev", type=Path, help="dev file (default: a stratified 10%% holdout)")
    evaluation = p.add_mutually_exclusive_group()
    evaluation.add_argument("--test", type=Path, help="test file, evaluated with the best epoch")
    evaluation.add_argument("--cv", type=int, metavar="K", help="K-fold cross-validation")
    add_data_options(p)
    g = p.add_argument_group("model (defaults: --recipe)")
    g.add_argument(
        "--recipe",
        choices=RECIPES,
        default="default",
        help="option values to start from: default (the chosen one) or kim2014 (Kim's own)",
    )
    g.add_argument("--mode", choices=MODES, help=recipe_help("mode"))
    g.add_argument(
        "--embeddings",
        help="word2vec/GloVe file, glove-6b-50d, or minilm (distilled from the packaged "
        f"sentence encoder); A+B concatenates sources per word {recipe_help('embeddings')}",
    )
    g.add_argument(
        "--encoder-dim",
        type=int,
        help=f"size of minilm vectors, 0 for all 384 {recipe_help('encoder_dim')}",
    )
    g.add_argument(
        "--embeddings-limit",
        type=int,
        help="read only the first N vectors (of each source; 100000 when combining)",
    )
    g.add_argument(
        "--pretrained-vocab",
        type=int,
        default=50_000,
        help="also keep the N most frequent pretrained words unseen in training",
    )
    g.add_argument("--dim", type=int, help=f"embedding size for --mode rand {recipe_help('dim')}")
    g.add_argument("--filter-widths", type=int_list, help=recipe_help("filter_widths"))
    g.add_argument("--feature-maps", type=int, help=f"maps per width {recipe_help('feature_maps')}")
    g.add_argument("--dropout", type=float, help=recipe_help("dropout"))
    g.add_argument(
        "--word-dropout",
        type=float,
        help=f"share of words replaced by <unk> in training {recipe_help('word_dropout')}",
    )
    g.add_argument("--max-norm", type=float, help=f"<= 0 disables it {recipe_help('max_norm')}")
    g.add_argument("--tokenizer", choices=sorted(TOKENIZERS), default="kim")
    g.add_argument("--keep-case", action="store_true", help="do not lowercase")
    g.add_argument("--max-length", type=int, default=400, help="tokens kept per text")
    g.add_argument("--min-count", type=int, default=1, help="vocabulary minimum count")
    g.add_argument("--max-vocab", type=int, help="vocabulary size limit (training words)")
    add_train_options(p, None, None, None, recipe_help)
    add_output_options(p)
    p.set_defaults(func=cmd_train)

    emb = sub.add_parser("embeddings", help="word vectors").add_subparsers(
        dest="embeddings_command", required=True, metavar="ACTION"
    )
    e = emb.add_parser(
        "train",
        help="train Word2Vec on unlabelled text, one document a line",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
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
    values = {name: recipe_value(name, key) for name in RECIPES}
    shown = {n: ",".join(map(str, v)) if isinstance(v, tuple) else v for n, v in values.items()}
    others = "; ".join(f"{name}: {v}" for name, v in shown.items() if name != "default")
    return f"(default {shown['default']}; {others})".replace("%", "%%")


def options_from_args(args: argparse.Namespace) -> TextTrainOptions:
    """The recipe's options, with every flag given on the command line applied over them."""
    given = {key: getattr(args, key) for key in KIM2014 if getattr(args, key) is not None}
    if given.get("max_norm", 1) <= 0:
        given["max_norm"] = None
    if args.encoder_dim is not None:
        given["encoder_dim"] = args.encoder_dim
    try:
        return recipe_options(
            args.recipe,
            **given,
            embeddings_limit=args.embeddings_limit,
            pretrained_vocab=args.pretrained_vocab,
            tokenizer=args.tokenizer,
            lowercase=not args.keep_case,
            max_length=args.max_length,
            min_count=args.min_count,
            max_vocab=args.max_vocab,
            weight_decay=args.weight_decay,
            label_smoothing=args.label_smoothing,
            schedule=args.schedule,
            seed=args.seed,
            device=args.device,
            amp=not args.no_amp,
            threads=args.threads,
            compile=args.compile,
            progress=not args.no_progress,
        )
    except ValueError as exc:
        raise TextCNNError(str(exc)) from exc


def cmd_train(args: argparse.Namespace) -> int:
    opts = options_from_args(args)
    train = read(args.data, args)
    dev = read(args.dev, args) if args.dev else None
    test = read(args.test, args) if args.test else None
    validate_training_data(train, dev, test)
    if args.cv is not None and args.cv < 2:
        raise TextCNNError("--cv needs at least 2 folds")
    vectors = None
    if opts.mode != "rand" and not needs_vocabulary(opts.embeddings):
        vectors = load_options_vectors(opts)
    cv = None
    if args.cv:
        cv = cross_validate(train, opts, args.cv, vectors)
        log.info("cv: mean accuracy %.4f (std %.4f)", cv["mean_accuracy"], cv["std_accuracy"])
    bundle = train_text(train, opts, dev=dev, test=test, vectors=vectors)
    if cv is not None:
        bundle.metrics["cv"] = {k: cv[k] for k in ("mean_accuracy", "std_accuracy")}
    out = write_output(bundle, args, {"cv.json": json.dumps(cv, indent=2) + "\n"} if cv else None)
    summary = {"model": str(out), **{k: v for k, v in bundle.metrics.items() if k != "test"}}
    print(json.dumps(summary))
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

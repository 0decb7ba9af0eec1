"""``textcnn evaluate`` and ``textcnn predict``: any bundle, any modality."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from textcnn.cli.common import (
    add_model_options,
    add_reader_options,
    load_predictor,
    print_json,
    reader_options,
)
from textcnn.cli.options import fraction
from textcnn.cli.report import add_report_option, model_title, write_report
from textcnn.engine.evaluate import evaluate
from textcnn.engine.splits import gold
from textcnn.errors import TextCNNError
from textcnn.modalities import get_modality
from textcnn.report import Report, evaluation_record
from textcnn.text.data import decode_bytes, split_lines


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="accuracy, macro-F1, per-class scores, confusion matrix (multi-label: micro/"
        "macro/samples F1, subset accuracy, Hamming loss)",
    )
    add_model_options(p)
    p.add_argument("--data", type=Path, required=True, help="labelled file (or image folder)")
    add_reader_options(p)
    add_threshold_option(p)
    add_report_option(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="one JSON line per input: label, score, probabilities")
    add_model_options(p)
    p.add_argument("inputs", nargs="*", help="texts (or image paths); stdin lines if none")
    p.add_argument("--input", type=Path, help="a file with one input per line")
    p.add_argument("--top-k", type=int, help="only the k most likely classes")
    add_threshold_option(p)
    p.set_defaults(func=cmd_predict)


def add_threshold_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threshold",
        type=fraction,
        help="multi-label models: this decision threshold for every label instead of the "
        "bundle's tuned ones",
    )


def cmd_evaluate(args: argparse.Namespace) -> int:
    predictor = load_predictor(args, args.threshold)
    modality = get_modality(predictor.modality)
    data = modality.read(args.data, reader_options(modality, args, predictor.multi_label))
    if args.report is None:
        print_json(evaluate(predictor, data.items, gold(data), data.source))
        return 0
    record = evaluation_record(predictor, data)
    print_json(record["metrics"])  # what evaluate prints without --report
    write_report(Report.of_bundle(predictor.bundle, model_title(args), record), args.report)
    return 0


def read_inputs(args: argparse.Namespace) -> list[str]:
    if args.inputs:
        return list(args.inputs)
    if args.input:
        if not args.input.is_file():
            raise TextCNNError(f"{args.input}: no such file")
        raw = args.input.read_bytes()
    else:
        raw = sys.stdin.buffer.read()
    return [line for line in split_lines(decode_bytes(raw, args.input or "stdin")) if line.strip()]


def cmd_predict(args: argparse.Namespace) -> int:
    predictor = load_predictor(args, args.threshold)
    items = read_inputs(args)
    for item, prediction in zip(items, predictor.predict(items), strict=True):
        print(json.dumps({"input": item, **prediction.to_dict(args.top_k)}, ensure_ascii=False))
    return 0

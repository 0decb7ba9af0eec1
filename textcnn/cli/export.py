"""``textcnn export``: a bundle as an ONNX file plus its preprocessing contract."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from textcnn.cli.common import add_model_options
from textcnn.engine.bundle import load_bundle
from textcnn.store import open_store

FORMATS = ("onnx",)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write a model as ONNX plus a JSON preprocessing contract, to run without textcnn",
        description="Write the network as an ONNX file (dynamic batch and sequence axes; "
        "outputs logits and probabilities) and, beside it with the .json suffix, the "
        "contract: labels, thresholds, tokeniser and vocabulary, or image size and "
        "normalisation. The export is checked against PyTorch before it is kept.",
    )
    add_model_options(p, device=False)
    p.add_argument("--format", choices=FORMATS, default="onnx", help="(%(default)s)")
    p.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    p.add_argument(
        "--int8",
        action="store_true",
        help="int8 matrix products (text convolutions included): faster forward passes on a "
        "CPU, probabilities within about 0.02 of float32's; checked within 0.05",
    )
    p.add_argument(
        "--token-table",
        action="store_true",
        help="a text model's embeddings and convolutions folded into one table of lookups: "
        "about 4x faster forward passes on a CPU, a file several times larger (what the service "
        "runs under TEXTCNN_TOKEN_TABLE_MB)",
    )
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from textcnn.export import export_onnx

    if args.model is not None:
        bundle, source = load_bundle(args.model), str(args.model)
    else:
        store = open_store(args.registry)
        version = store.resolve(args.name, args.version)
        bundle = store.load_bundle(args.name, version)
        source = f"{store.location} {args.name} {version}"
    result = export_onnx(bundle, args.out, source, int8=args.int8, token_table=args.token_table)
    summary = {
        "onnx": str(result.onnx_path),
        "contract": str(result.contract_path),
        "onnx_bytes": result.onnx_path.stat().st_size,
        "contract_bytes": result.contract_path.stat().st_size,
        "precision": result.precision,
        "token_table": result.token_table,
        "max_probability_difference": result.max_difference,
    }
    print(json.dumps(summary))
    return 0

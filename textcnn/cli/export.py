"""``textcnn export``: a bundle as an ONNX file plus its preprocessing contract."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textcnn.cli.common import add_model_options
from textcnn.engine.bundle import Bundle, load_bundle
from textcnn.errors import TextCNNError
from textcnn.store import open_store, version_number

if TYPE_CHECKING:
    from textcnn.export import Exported

FORMATS = ("onnx", "triton")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write a model as ONNX plus a JSON preprocessing contract, to run without textcnn",
        description="Write the network as an ONNX file (dynamic batch and sequence axes; "
        "outputs logits and probabilities) and, beside it with the .json suffix, the "
        "contract: labels, thresholds, tokeniser and vocabulary, or image size and "
        "normalisation. The export is checked against PyTorch before it is kept. "
        "--format triton adds it to a Triton model repository instead: "
        "OUT/MODEL/N/model.onnx (and model.json), OUT/MODEL/config.pbtxt and labels.txt.",
    )
    add_model_options(p, device=False)
    p.add_argument("--format", choices=FORMATS, default="onnx", help="(%(default)s)")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the .onnx file to write; with --format triton the model repository directory",
    )
    p.add_argument(
        "--triton-model",
        help="--format triton: the model's name in the repository (default: --name, or the "
        "--model directory's name)",
    )
    p.add_argument(
        "--triton-version",
        type=int,
        help="--format triton: its version number (default: N of the registry's vN, or one "
        "more than the repository's newest for --model)",
    )
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
        bundle, source, version = load_bundle(args.model), str(args.model), None
    else:
        store = open_store(args.registry)
        version = store.resolve(args.name, args.version)
        bundle = store.load_bundle(args.name, version)
        source = f"{store.location} {args.name} {version}"
    if args.format == "triton":
        return _export_triton(args, bundle, source, version)
    if args.triton_model is not None or args.triton_version is not None:
        raise TextCNNError("--triton-model and --triton-version go with --format triton")
    result = export_onnx(bundle, args.out, source, int8=args.int8, token_table=args.token_table)
    print(json.dumps(_summary(result)))
    return 0


def _export_triton(
    args: argparse.Namespace, bundle: Bundle, source: str, version: str | None
) -> int:
    from textcnn.export.triton import CONFIG_FILE, export_triton, next_version

    model = args.triton_model or (args.name if args.model is None else args.model.resolve().name)
    number = args.triton_version
    if number is None:
        number = version_number(version) if version else next_version(args.out, model)
    result = export_triton(
        bundle, args.out, model, number, source, int8=args.int8, token_table=args.token_table
    )
    summary = {
        "repository": str(args.out),
        "model": model,
        "version": result.version,
        "config": str(result.model_dir / CONFIG_FILE),
        **_summary(result.exported),
    }
    print(json.dumps(summary))
    return 0


def _summary(result: Exported) -> dict[str, Any]:
    return {
        "onnx": str(result.onnx_path),
        "contract": str(result.contract_path),
        "onnx_bytes": result.onnx_path.stat().st_size,
        "contract_bytes": result.contract_path.stat().st_size,
        "precision": result.precision,
        "token_table": result.token_table,
        "max_probability_difference": result.max_difference,
    }

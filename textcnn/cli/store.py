"""``textcnn retrain`` and ``textcnn models list|show|promote|rollback|prune``: the commands
that operate the model store (``textcnn.store``)."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from textcnn.cli.common import (
    add_reader_options,
    keep_type,
    name_type,
    print_json,
    reader_options,
    registry_type,
)
from textcnn.cli.options import add_field
from textcnn.cli.report import add_report_option, write_report
from textcnn.engine.bundle import read_config
from textcnn.engine.config import TrainConfig
from textcnn.engine.distributed import join_process_group, run_on_main
from textcnn.errors import TextCNNError
from textcnn.modalities import get_modality
from textcnn.report import Report, evaluation_record
from textcnn.retrain import EXIT_REFUSED, HOLDOUT, check_retrainable, retrain
from textcnn.store import KEEP, ModelStore, StoreError, VersionInfo, open_store

RETRAIN_HELP = """\
Train a candidate for a registered model; make it current if it is at least as good.

The candidate trains with the current version's options (the training options below override
them): from scratch on --data, or with --from-version warm-started from that version's weights
(for text, its vocabulary extended with the new words). --data is a text file for a text model,
an image folder or tar (root/<class>/<image>, or its train/ split) for an image model. The
gate evaluates the candidate and the current version on the same held-out data, which the
candidate never trains or selects epochs on: the --dev file if given, else a stratified,
seeded --holdout fraction of --data. A holdout may hold examples the current version trained
on, which favours it (the gate errs towards keeping what is served): for an even comparison
pass --dev with data neither model trained on. The candidate becomes current if its accuracy
(micro-F1 for a multi-label model) is >= the current version's (or with --force); otherwise
it is kept as a non-current version that `textcnn models promote` can make current.
Prints the comparison as a table, then as one JSON line.

Exit status: 0 promoted; 3 not promoted (refused by the gate, or the current version changed
during the retrain); 2 an error, the registry unchanged.
"""

# The training options that may override the current version's stored ones, and help texts
# that differ from ``TrainConfig``'s.
OVERRIDES = (
    *("epochs", "batch_size", "optimizer", "lr", "weight_decay", "seed", "device", "threads"),
    *("precision", "progress"),
)
OVERRIDE_HELP = {"seed": "also seeds the --holdout split", "threads": "CPU threads"}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "retrain",
        help="retrain a registered model behind an evaluation gate",
        description=RETRAIN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--registry", type=registry_type(), required=True, help="registry directory or s3://..."
    )
    p.add_argument("--name", type=name_type, required=True, help="model to retrain")
    p.add_argument("--data", type=Path, required=True, help="training file, or image folder/tar")
    p.add_argument("--dev", type=Path, help="gate data (default: a --holdout of --data)")
    p.add_argument(
        "--holdout",
        type=float,
        default=HOLDOUT,
        help=f"gate fraction of --data without --dev ({HOLDOUT})",
    )
    p.add_argument("--from-version", help="warm-start from this version's weights")
    p.add_argument(
        "--force",
        action="store_true",
        help="make the candidate current whatever the gate says; with labels that differ "
        "from the current model's, train a fresh model on the data's labels",
    )
    p.add_argument("--keep", type=keep_type, default=KEEP, help=f"versions kept per model ({KEEP})")
    add_reader_options(p)
    g = p.add_argument_group("training (default: the current version's)")
    for f in fields(TrainConfig):
        if f.name in OVERRIDES:
            add_field(g, f, None, help=OVERRIDE_HELP.get(f.name, f.metadata["help"]))
    p.set_defaults(func=cmd_retrain)

    models = sub.add_parser("models", help="list, show, promote, roll back registry versions")
    actions = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")

    def action(name: str, help: str, name_required: bool = True) -> argparse.ArgumentParser:
        a = actions.add_parser(name, help=help)
        a.add_argument("--registry", type=registry_type(), required=True, help="registry")
        a.add_argument("--name", type=name_type, required=name_required, help="model name")
        return a

    a = action("list", "versions with metrics, creation time, parent, data fingerprint", False)
    a.add_argument("--json", action="store_true", help="one JSON object per version")
    a.set_defaults(func=cmd_list)
    a = action("show", "a version's manifest, training options and verification")
    a.add_argument("--version", help="(default: the current one)")
    add_report_option(
        a,
        help=": of the evaluation stored at training (its test data, else its dev split), "
        "or with --data of that data",
    )
    a.add_argument("--data", type=Path, help="with --report: labelled data to evaluate on")
    add_reader_options(a)
    a.set_defaults(func=cmd_show)
    a = action("promote", "make a version current")
    a.add_argument("--version", required=True)
    a.set_defaults(func=cmd_promote)
    a = action("rollback", "make the previously current version current again")
    a.set_defaults(func=cmd_rollback)
    a = action("prune", "delete old versions beyond --keep (never the current or previous)")
    a.add_argument("--keep", type=keep_type, required=True)
    a.set_defaults(func=cmd_prune)


def cmd_retrain(args: argparse.Namespace) -> int:
    registry = open_store(args.registry)
    join_process_group()  # from here on a failure on rank 0 stops every torchrun rank

    def stored() -> tuple[str, bool]:
        modality = check_retrainable(registry, args.name, args.from_version)
        config = read_config(registry.verify(args.name, registry.resolve(args.name)))
        return modality.name, bool(config.get("multi_label"))

    modality_name, multi_label = run_on_main(stored)
    modality = get_modality(modality_name)
    read = reader_options(modality, args, multi_label)
    data = modality.read_training(args.data, read)[0]
    dev = modality.read(args.dev, read) if args.dev else None
    overrides = {k: getattr(args, k) for k in OVERRIDES if getattr(args, k) is not None}
    result = retrain(
        registry,
        args.name,
        data,
        dev,
        from_version=args.from_version,
        force=args.force,
        overrides=overrides,
        holdout=args.holdout,
        keep=args.keep,
    )
    print(result.table())
    print(json.dumps(result.to_dict()))
    return 0 if result.promoted else EXIT_REFUSED


def _metrics_text(metrics: dict[str, Any]) -> str:
    """The accuracies (micro-F1s for a multi-label model), as ``test=0.9120 dev=...``."""
    multi = any(k.endswith("_micro_f1") for k in metrics)
    suffix = "_micro_f1" if multi else "_accuracy"
    shown = {k.removesuffix(suffix): v for k, v in metrics.items() if k.endswith(suffix)}
    return " ".join(f"{k}={v:.4f}" for k, v in shown.items() if isinstance(v, float)) or "-"


def _row(info: VersionInfo) -> list[str]:
    s = info.summary()
    return [
        s["name"],
        s["version"] + (" *" if s["current"] else ""),
        s["modality"] or "-",
        s["created"] or "-",
        s["parent"] or "-",
        _metrics_text(s["metrics"]),
        (s["data_fingerprint"] or "-")[:12],
    ]


def cmd_list(args: argparse.Namespace) -> int:
    infos = open_store(args.registry).list_versions(args.name)
    if args.json:
        for info in infos:
            print(json.dumps(info.summary()))
        return 0
    rows = [["NAME", "VERSION", "MODALITY", "CREATED", "PARENT", "ACCURACY", "DATA"]]
    rows += [_row(info) for info in infos]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    if len(rows) == 1:
        print("(no versions)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    registry = open_store(args.registry)
    version = registry.resolve(args.name, args.version)
    info = registry.info(args.name, version)
    try:
        training = read_config(registry.verify(args.name, version)).get("training", {})
        verified: bool | str = True
    except StoreError as exc:
        training, verified = {}, str(exc)
    if args.data is not None and args.report is None:
        raise TextCNNError("`data` is the data of a `report`: give `report` DIR too")
    report = show_report(registry, args, version) if args.report is not None else None
    print_json(
        {
            **info.summary(),
            "labels": info.manifest.get("labels"),
            "arch": info.manifest.get("arch"),
            "path": info.location,
            "verified": verified,
            "history": registry.pointer(args.name).get("history", []),
            "options": training.get("options"),
            "retrain": training.get("retrain"),
            "files": info.manifest.get("files"),
            **({"report": str(report)} if report is not None else {}),
        }
    )
    return 0


def show_report(registry: ModelStore, args: argparse.Namespace, version: str) -> Path:
    """Write the report of ``version`` on ``--data``, or on its stored evaluation."""
    predictor = registry.load(args.name, version)[1]
    record = None
    if args.data is not None:
        modality = get_modality(predictor.modality)
        record = evaluation_record(
            predictor, modality.read(args.data, reader_options(modality, args))
        )
    return write_report(
        Report.of_bundle(predictor.bundle, f"{args.name} {version}", record), args.report
    )


def cmd_promote(args: argparse.Namespace) -> int:
    previous = open_store(args.registry).promote(args.name, args.version)
    print(json.dumps({"name": args.name, "current": args.version, "was": previous}))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    registry = open_store(args.registry)
    was = registry.current(args.name)
    current = registry.rollback(args.name)
    print(json.dumps({"name": args.name, "current": current, "was": was}))
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    pruned = open_store(args.registry).prune(args.name, args.keep)
    print(json.dumps({"name": args.name, "pruned": pruned}))
    return 0

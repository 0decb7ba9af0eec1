"""Options shared by several commands: training, data readers, model sources, output."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from textcnn.cli.options import add_fields, cli_fields, from_args
from textcnn.engine.bundle import Bundle, check_replaceable
from textcnn.engine.config import TrainConfig
from textcnn.engine.distributed import is_main_process
from textcnn.engine.predictor import Predictor
from textcnn.errors import BundleError, TextCNNError
from textcnn.modalities import Modality, get_modality, list_modalities
from textcnn.store import KEEP, StoreError, check_name, check_path, open_store

log = logging.getLogger(__name__)


def add_train_options(p: argparse.ArgumentParser, defaults: TrainConfig) -> None:
    """The ``TrainConfig`` flags, defaulting to ``defaults`` (each modality has its own)."""
    add_fields(p, TrainConfig, defaults, group="training")


def train_config(args: argparse.Namespace) -> TrainConfig:
    return from_args(TrainConfig, args)


def add_reader_options(p: argparse.ArgumentParser) -> None:
    """The data reader flags of every modality (a flag two readers share is added once), for
    commands that learn the modality from the model."""
    seen: set[str] = set()
    for modality in map(get_modality, list_modalities()):
        add_fields(p, modality.reader, group="data", skip=seen)
        seen.update(f.name for f in cli_fields(modality.reader))


def reader_options(modality: Modality, args: argparse.Namespace, multi_label: bool = False) -> Any:
    """The reader flags of ``modality``; ``multi_label`` reads a label set per example."""
    if not multi_label:
        return from_args(modality.reader, args)
    if "multi_label" not in {f.name for f in fields(modality.reader)}:
        raise TextCNNError(f"{modality.name} data has no multi-label form")
    return from_args(modality.reader, args, multi_label=True)


class _Linked(argparse.Action):
    """Stores its value; once given, the options in ``requires`` become required too.

    This changes the parser, which is fine for one parse per parser (``main`` builds one).
    """

    requires: tuple[argparse.Action, ...] = ()

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        for action in self.requires:
            action.required = True


def _requires(action: argparse.Action, *others: argparse.Action) -> None:
    action.requires = others  # type: ignore[attr-defined]


def _checked(check: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` reporting a ``StoreError`` as a usage error."""

    def convert(value: str) -> Any:
        try:
            return check(value)
        except StoreError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def registry_type(create: bool = False) -> Callable[[str], Any]:
    """``--registry``: an existing registry directory (with ``create`` also an absent or empty
    one), or ``s3://bucket/prefix``."""
    return _checked(lambda value: check_path(value, create))


name_type = _checked(check_name)


def out_type(value: str) -> Path:
    """``--out``: checked before training starts, so a bad path costs no training time."""
    try:
        return check_replaceable(value)
    except BundleError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def keep_type(value: str) -> int:
    """``--keep``: a whole number of versions, at least 1."""
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value!r}")
    return int(value)


def add_output_options(p: argparse.ArgumentParser) -> None:
    """``--out DIR``, or ``--registry DIR --name NAME`` to publish a new current version."""
    g = p.add_argument_group("output: --out DIR, or --registry DIR with --name NAME")
    target = g.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--out",
        type=out_type,
        help="bundle directory to write: new, empty, or a bundle to replace",
    )
    registry = target.add_argument(
        "--registry",
        type=registry_type(create=True),
        action=_Linked,
        help="registry directory or s3://bucket/prefix (created if absent): the model "
        "becomes a new version of --name, and its current one",
    )
    name = g.add_argument("--name", type=name_type, action=_Linked, help="model name")
    _requires(registry, name)
    _requires(name, registry)
    g.add_argument(
        "--keep",
        type=keep_type,
        default=KEEP,
        help="versions kept per model after publishing; never the current or previous one",
    )


def write_output(
    bundle: Bundle, args: argparse.Namespace, extra_files: dict[str, str] | None = None
) -> str:
    """Write the trained bundle where the user asked; returns its directory.

    With ``--registry`` the bundle (and ``extra_files``: name -> text) becomes a new version
    of ``--name`` and its current one; versions beyond ``--keep`` are pruned. Only rank 0
    writes under ``torchrun``; other ranks get the path without writing.
    """
    if not is_main_process():
        return str(args.out) if args.out is not None else f"{args.registry}/{args.name}"
    if args.out is not None:
        out = bundle.save_atomic(args.out)
        for filename, text in (extra_files or {}).items():
            (out / filename).write_text(text, encoding="utf-8")
        return str(out)
    registry = open_store(args.registry, create=True)
    with registry.lock(args.name):
        previous = registry.current(args.name)
        version = registry.publish(
            args.name,
            bundle,
            parent=previous,  # the version it replaces
            locked=True,
            extra_files=extra_files,
            make_current=True,
        )
        pruned = registry.prune(args.name, args.keep, locked=True)
    log.info(
        "published %s %s in %s as the current version (was %s; pruned %s)",
        args.name,
        version,
        registry.location,
        previous or "none",
        ", ".join(pruned) or "none",
    )
    return registry.version_location(args.name, version)


def add_model_options(p: argparse.ArgumentParser, device: bool = True) -> None:
    """``--model DIR``, or ``--registry DIR --name NAME [--version V]`` (default: current),
    and ``--device`` for commands that run the model where the user says."""
    g = p.add_argument_group("model: --model DIR, or --registry DIR with --name NAME")
    source = g.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="a bundle directory")
    registry = source.add_argument(
        "--registry",
        type=registry_type(),
        action=_Linked,
        help="registry directory or s3://bucket/prefix",
    )
    name = g.add_argument("--name", type=name_type, action=_Linked, help="model name")
    version = g.add_argument("--version", action=_Linked, help="(default: the current one)")
    _requires(registry, name)
    _requires(name, registry)
    _requires(version, registry, name)
    if device:
        p.add_argument("--device", default="cpu", help="(%(default)s)")


def load_predictor(args: argparse.Namespace, threshold: float | None = None) -> Predictor:
    """The model ``--model`` or ``--registry/--name/--version`` names; ``threshold`` replaces
    a multi-label model's per-label thresholds."""
    if args.model is not None:
        predictor = Predictor.load(args.model, device=args.device)
    else:
        version, predictor = open_store(args.registry).load(args.name, args.version, args.device)
        log.info("loaded %s %s from %s", args.name, version, args.registry)
    if threshold is None:
        return predictor
    if not predictor.multi_label:
        raise TextCNNError("--threshold applies to multi-label models; this one is single-label")
    return predictor.with_threshold(threshold)


def print_json(obj: Any, indent: int | None = 2) -> None:
    print(json.dumps(obj, indent=indent, ensure_ascii=False))


def print_summary(out: str, bundle: Bundle) -> None:
    """What a training command prints: where the model went and its metrics, one JSON line."""
    summary = {"model": out, **{k: v for k, v in bundle.metrics.items() if k != "test"}}
    print(json.dumps(summary))

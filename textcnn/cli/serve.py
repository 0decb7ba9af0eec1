"""``textcnn serve``: the REST service under uvicorn (uvloop + httptools), or with ``--ray`` as
Ray Serve replicas (``service.ray_app``).

Its flags are made from the service's ``Settings`` (``ServeParser``), so each default and
description is written once, there. Flags override ``TEXTCNN_*`` environment settings; they
reach every worker process through those same environment variables, since uvicorn starts
workers from an import string. With more than one worker the Prometheus metrics run in
multiprocess mode (see ``service.metrics``): ``PROMETHEUS_MULTIPROC_DIR``, or a fresh temporary
directory, holds every worker's values.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from textcnn.errors import TextCNNError
from textcnn.store import is_s3

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
REPLICAS = 1  # Ray Serve replicas without --replicas

# Settings whose flag is not ``--field-name``: several inputs, or an older name kept working.
FLAG_NAMES = {
    "bundles": ("--bundle",),
    "torch_threads": ("--torch-threads", "--threads"),
}
# How a flag gives the settings that the environment gives as JSON (see ``setting_overrides``).
FLAG_FORMATS = {
    "bundles": {"action": "append", "metavar": "NAME=DIR", "note": "repeatable"},
    "models": {"metavar": "NAME,...", "note": "comma-separated"},
}
# API keys stay off command lines, where `ps` shows them: TEXTCNN_API_KEYS or --api-keys-file.
NO_FLAG = frozenset({"api_keys"})


class ServeParser(argparse.ArgumentParser):
    """``textcnn serve``'s parser. A flag per service setting is made from
    ``service.settings.Settings`` (``add_setting_flags``) when the parser is first used
    (parsed, asked for help or for its options), so building the CLI imports no service code.
    Without the service extra it takes any arguments, and the command names the extra."""

    def __init__(self, **kwargs: Any) -> None:
        self._lazy = False  # set once the parser is built: flags added on first use after
        self._service: bool | None = None  # whether the service is installed (None: not known)
        super().__init__(**kwargs)

    def complete(self) -> bool:
        """Add the setting flags (once); whether the service is installed."""
        if self._service is None:
            try:
                from service.settings import Settings
            except ImportError:
                self._service = False
            else:
                self._service = True
                add_setting_flags(self, Settings)
        return self._service

    def lazy(self) -> None:
        """From now on, any use of the parser adds the setting flags first."""
        self._lazy = True

    def _use(self) -> None:
        if self._lazy and self._service is None:
            self.complete()

    @property
    def _actions(self) -> list[argparse.Action]:
        self._use()
        return self._store

    @_actions.setter
    def _actions(self, value: list[argparse.Action]) -> None:
        self._store = value

    @property
    def _option_string_actions(self) -> dict[str, argparse.Action]:
        self._use()
        return self._strings

    @_option_string_actions.setter
    def _option_string_actions(self, value: dict[str, argparse.Action]) -> None:
        self._strings = value

    def parse_known_args(
        self, args: Any = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self.complete():
            return super().parse_known_args(args, namespace)
        parsed, _ = super().parse_known_args(args, namespace)  # cmd_serve names the extra
        return parsed, []


def add_setting_flags(parser: argparse.ArgumentParser, settings: Any) -> None:
    """A flag per field of ``settings`` (the service's ``Settings``) but ``NO_FLAG``: its help
    is the field's description and default, its type and choices come from the annotation.
    Each flag is an override, ``None`` unless given, so that the environment's value stands."""
    group = parser.add_argument_group(
        "service settings", "Each also read from the environment as TEXTCNN_<NAME>; flags win."
    )
    for name, field in settings.model_fields.items():
        if name in NO_FLAG:
            continue
        fmt = dict(FLAG_FORMATS.get(name, {}))
        note = fmt.pop("note", None)
        default = field.get_default(call_default_factory=True)
        shown = None if default in (None, {}, []) else show_default(default)
        extra = "; ".join(x for x in (note, shown and f"default: {shown}") if x)
        text = (field.description or "") + (f" ({extra})" if extra else "")
        kwargs = {"dest": name, "default": None, "help": text.replace("%", "%%")}
        kwargs |= fmt or parsing(field.annotation)
        group.add_argument(*FLAG_NAMES.get(name, ("--" + name.replace("_", "-"),)), **kwargs)


def parsing(annotation: Any) -> dict[str, Any]:
    """argparse's ``type``, ``choices`` or ``action`` for a setting of type ``annotation``
    (``X | None`` as ``X``); a string for the others (a path, a device)."""
    if get_origin(annotation) in (Union, UnionType):
        (annotation,) = [a for a in get_args(annotation) if a is not type(None)]
    if annotation is bool:
        return {"action": argparse.BooleanOptionalAction}
    if get_origin(annotation) is Literal:
        return {"choices": get_args(annotation)}
    return {"type": annotation} if annotation in (int, float) else {}


def show_default(value: Any) -> str:
    """A setting's default as the help and the README's settings table show it."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    parser_class, sub._parser_class = sub._parser_class, ServeParser
    try:
        p = sub.add_parser(
            "serve",
            help="serve models over REST (/classify, /classify-image, /models, /metrics)",
            description="Serve the registry's current model versions over HTTP. Every setting "
            "also reads from the environment (TEXTCNN_<SETTING>); flags win.",
        )
    finally:
        sub._parser_class = parser_class
    p.add_argument(
        "--ray",
        action="store_true",
        help="serve as Ray Serve replicas on the Ray cluster of RAY_ADDRESS or `ray start`, "
        "else on a local one (needs textcnn[ray]; pays off across hosts, not on one)",
    )
    p.add_argument(
        "--replicas", type=int, help=f"Ray Serve replicas, with --ray (default: {REPLICAS})"
    )
    p.set_defaults(func=cmd_serve)
    p.lazy()


def setting_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the flags give (those given), as the environment would give them."""
    from service.settings import Settings

    values: dict[str, Any] = {}
    for name in Settings.model_fields:
        value = getattr(args, name, None)
        if value is None:
            continue
        if name == "bundles":
            pairs = [item.partition("=") for item in value]
            if any(not n or not d for n, _, d in pairs):
                raise TextCNNError("--bundle takes NAME=DIR")
            value = {n: str(Path(d).absolute()) for n, _, d in pairs}
        elif name == "models":
            value = [n.strip() for n in value.split(",") if n.strip()]
        elif name == "registry":
            value = value if is_s3(value) else str(Path(value).absolute())
        values[name] = value
    return values


def export_settings(values: dict[str, Any], prefix: str) -> None:
    """Put settings into ``TEXTCNN_*`` (``prefix``) environment variables (JSON for lists and
    dicts)."""
    for name, value in values.items():
        text = json.dumps(value) if isinstance(value, dict | list) else str(value)
        os.environ[f"{prefix}{name.upper()}"] = text


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn
        from pydantic import ValidationError

        from service.settings import ENV_PREFIX, Settings
    except ImportError as exc:
        raise TextCNNError(
            f"textcnn serve needs the service extra ({exc.name} is missing): "
            "pip install 'textcnn[serve]'"
        ) from None

    export_settings(setting_overrides(args), ENV_PREFIX)
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise TextCNNError(f"invalid service settings: {problems}") from None
    if args.ray:
        return serve_on_ray(settings, REPLICAS if args.replicas is None else args.replicas)
    if args.replicas is not None:
        raise TextCNNError("--replicas needs --ray (uvicorn runs --workers processes)")
    with metrics_directory(settings.workers):
        uvicorn.run(
            "service.main:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            limit_concurrency=settings.limit_concurrency,
            loop="uvloop",
            http="httptools",
            log_level=settings.log_level,
            access_log=False,
        )
    return 0


def serve_on_ray(settings: Any, replicas: int) -> int:
    """``--ray``: each replica one process with its own models, so uvicorn's ``--workers``
    has no meaning there."""
    if replicas < 1:
        raise TextCNNError("--replicas must be at least 1")
    if settings.workers > 1:
        raise TextCNNError("--workers is for uvicorn; with --ray, run more --replicas")
    try:
        from service import ray_app
    except ImportError as exc:
        raise TextCNNError(
            f"textcnn serve --ray needs the ray extra ({exc.name} is missing): "
            "pip install 'textcnn[ray]'"
        ) from None
    ray_app.run(settings, replicas)
    return 0


@contextlib.contextmanager
def metrics_directory(workers: int) -> Iterator[None]:
    """Prometheus multiprocess mode for more than one worker: ``$PROMETHEUS_MULTIPROC_DIR``
    emptied of an earlier run's values, or a temporary directory removed afterwards."""
    if workers <= 1:
        yield
        return
    given = os.environ.get(MULTIPROC_ENV)
    path = Path(given) if given else Path(tempfile.mkdtemp(prefix="textcnn-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield
    finally:
        if not given:
            shutil.rmtree(path, ignore_errors=True)

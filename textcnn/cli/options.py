"""Command-line flags made from option dataclasses (fields declared with ``option``).

Each flag takes its default and help from the field, so a default is written once: in the
dataclass a Python caller uses too.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import Field, fields
from typing import Any, TypeVar

T = TypeVar("T")


def int_list(value: str) -> tuple[int, ...]:
    """An argparse ``type`` for comma-separated integers such as ``3,4,5``."""
    try:
        return tuple(int(part) for part in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers like 3,4,5, got {value!r}"
        ) from None


def fraction(value: str) -> float:
    """An argparse ``type`` for a share of the data: at least 0, below 1."""
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not 0 <= share < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {value!r}")
    return share


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows each default, but not where there is none to show: ``None``, or an
    on/off flag (whose default is the opposite of what giving it means)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.nargs == 0:
            return action.help
        return super()._get_help_string(action)


NAMED_TYPES: dict[str, Callable[[str], Any]] = {"fraction": fraction}
ANNOTATED_TYPES: dict[str, Callable[[str], Any]] = {
    "int": int,
    "float": float,
    "str": str,
    "tuple[int, ...]": int_list,
}


def cli_fields(cls: type) -> list[Field]:
    """The fields of ``cls`` offered as flags (those declared with ``option``)."""
    return [f for f in fields(cls) if "help" in f.metadata]


def flag(f: Field) -> str:
    """The field's flag: ``--field-name`` unless it names another."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def add_field(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    f: Field,
    default: Any,
    **overrides: Any,
) -> argparse.Action:
    """``f`` as a flag storing into ``f.name``; a boolean flag sets the opposite of ``default``
    (``default=None``: the flag is an override, absent unless given)."""
    kwargs: dict[str, Any] = {"dest": f.name, "default": default, "help": f.metadata["help"]}
    extra = dict(f.metadata.get("argparse") or {})
    annotation = str(f.type).removesuffix(" | None")
    if annotation == "bool":
        kwargs["action"] = "store_false" if f.default else "store_true"
    else:
        named = extra.pop("type", None)
        kwargs["type"] = NAMED_TYPES[named] if named else ANNOTATED_TYPES[annotation]
    kwargs.update(extra)
    kwargs.update(overrides)
    return parser.add_argument(flag(f), **kwargs)


def add_fields(
    parser: argparse.ArgumentParser,
    cls: type,
    defaults: Any = None,
    group: str = "model",
    skip: Iterable[str] = (),
) -> None:
    """A flag per ``option`` field of ``cls``, in the help section the field names (else
    ``group``); defaults from the instance ``defaults``, else from the fields."""
    for f in cli_fields(cls):
        if f.name not in skip:
            default = getattr(defaults, f.name) if defaults is not None else f.default
            add_field(help_section(parser, f.metadata.get("group") or group), f, default)


def help_section(parser: argparse.ArgumentParser, title: str) -> argparse._ArgumentGroup:
    """The help section ``title`` of ``parser``, made on first use."""
    for existing in parser._action_groups:
        if existing.title == title:
            return existing
    return parser.add_argument_group(title)


def from_args(cls: type[T], args: argparse.Namespace, **values: Any) -> T:
    """An instance of ``cls`` from the parsed flags of its ``option`` fields (and ``values``)."""
    given = {f.name: getattr(args, f.name) for f in cli_fields(cls) if hasattr(args, f.name)}
    return cls(**given, **values)


def default_of(cls: type, name: str) -> Any:
    """The default of field ``name`` of ``cls`` (calling its factory)."""
    (f,) = [f for f in fields(cls) if f.name == name]
    return f.default_factory() if callable(f.default_factory) else f.default

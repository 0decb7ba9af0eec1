"""A registry of architectures: ``create_model(name, **config)`` builds any of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn


@dataclass(frozen=True)
class ModelEntry:
    name: str
    modality: str
    config: type
    build: Callable[[Any], nn.Module]


_MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, modality: str, config: type) -> Callable:
    """Decorator adding a builder ``fn(config) -> nn.Module`` under ``name``."""

    def wrap(fn: Callable[[Any], nn.Module]) -> Callable[[Any], nn.Module]:
        _MODELS[name] = ModelEntry(name, modality, config, fn)
        return fn

    return wrap


def model_entry(name: str) -> ModelEntry:
    if name not in _MODELS:
        raise KeyError(f"unknown architecture {name!r}; available: {', '.join(list_models())}")
    return _MODELS[name]


def list_models(modality: str | None = None) -> list[str]:
    return sorted(n for n, e in _MODELS.items() if modality in (None, e.modality))


def make_config(name: str, **kwargs: Any) -> Any:
    return model_entry(name).config(**kwargs)


def create_model(name: str, config: Any = None, **kwargs: Any) -> nn.Module:
    """Build architecture ``name`` from a config object or from config keyword arguments."""
    entry = model_entry(name)
    return entry.build(config if config is not None else entry.config(**kwargs))


def config_to_dict(config: Any) -> dict[str, Any]:
    return asdict(config)

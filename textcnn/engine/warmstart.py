"""Warm start: whether a bundle's weights can seed a new model, for any modality."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textcnn.engine.bundle import Bundle
from textcnn.errors import TextCNNError


def check_warm_start(
    old: Bundle, arch: str, settings: dict[str, tuple[Any, Any]], labels: Sequence[str]
) -> None:
    """Fail unless ``old`` is an ``arch`` model whose ``settings`` (name: (old, new) value)
    agree and whose labels are ``labels``: what copying its weights needs."""
    if old.arch != arch:
        raise TextCNNError(f"warm start needs a {arch} model, not {old.arch!r}")
    differing = [f"{key} {a} -> {b}" for key, (a, b) in settings.items() if a != b]
    if differing:
        raise TextCNNError(
            f"warm start needs the old model's architecture; these differ: {', '.join(differing)}"
        )
    if sorted(labels) != sorted(old.labels):
        raise TextCNNError(
            f"warm start needs the old model's labels ({', '.join(old.labels)}); "
            f"the data has {', '.join(labels)}"
        )

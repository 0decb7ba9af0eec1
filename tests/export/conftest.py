"""The exporter rebuilds its table of operator translations (seconds of CPU) on every call;
the export tests share one, which changes nothing but their duration."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def shared_operator_table() -> Iterator[None]:
    try:
        from torch.onnx._internal.exporter import _registration
    except ImportError:  # another torch: the tests just take longer
        yield
        return
    table = _registration.ONNXRegistry.__dict__["from_torchlib"]
    cached = functools.cache(table.__func__)
    _registration.ONNXRegistry.from_torchlib = classmethod(
        lambda cls, *args, **kwargs: cached(cls, *args, **kwargs)
    )
    yield
    _registration.ONNXRegistry.from_torchlib = table

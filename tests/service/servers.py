"""Real servers for the service tests: ``textcnn serve`` processes and the flood client, as
``bench/overload_benchmark.py`` defines them (one implementation for the bench and the tests)."""

from __future__ import annotations

import importlib.util
import sys

from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location(
    "overload_benchmark", REPO / "bench" / "overload_benchmark.py"
)
overload = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = overload
_spec.loader.exec_module(overload)

serve = overload.serve
flood = overload.flood
memory_kib = overload.memory_kib
classify_body = overload.classify_body

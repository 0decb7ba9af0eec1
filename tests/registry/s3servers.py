"""Real S3 servers for the registry tests: SeaweedFS (``weed mini``) as
``bench/swap_benchmark.py`` starts it, and the swap under load that the benchmark measures
(one implementation for the bench and the tests)."""

from __future__ import annotations

import importlib.util
import sys

import tests.service.servers  # noqa: F401  (loads bench/overload_benchmark.py, which swap uses)
from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location(
    "swap_benchmark", REPO / "bench" / "swap_benchmark.py"
)
swap = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = swap
_spec.loader.exec_module(swap)

S3Server = swap.S3Server
seaweedfs = swap.seaweedfs
weed_binary = swap.weed_binary
replicas = swap.replicas
swap_once = swap.swap_once

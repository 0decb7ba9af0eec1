"""Real S3 servers for the registry tests: SeaweedFS (``weed mini``) as
``bench/swap_benchmark.py`` starts it, and the swap under load that the benchmark measures
(one implementation for the bench and the tests)."""

from __future__ import annotations

from bench import swap_benchmark as swap

S3Server = swap.S3Server
seaweedfs = swap.seaweedfs
weed_binary = swap.weed_binary
replicas = swap.replicas
swap_once = swap.swap_once

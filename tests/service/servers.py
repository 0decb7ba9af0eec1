"""Real servers for the service tests: ``textcnn serve`` processes and the flood client, as
``bench/overload_benchmark.py`` defines them (one implementation for the bench and the tests)."""

from __future__ import annotations

from bench import overload_benchmark as overload

serve = overload.serve
flood = overload.flood
memory_kib = overload.memory_kib
classify_body = overload.classify_body

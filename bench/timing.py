"""Wall-time helpers shared by the latency benchmarks and studies."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def ms_per_call(fn: Callable[[], object], calls: int, warm: bool = True) -> float:
    """Mean milliseconds of ``fn()`` over ``calls`` calls in a row, after one untimed call
    (``warm``) that pays for lazy set-up."""
    if warm:
        fn()
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1000


def median_ms(fn: Callable[[], object], repeats: int = 3) -> float:
    """Median milliseconds of one ``fn()`` call over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)

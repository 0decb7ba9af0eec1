"""The dynamic batcher: coalescing, splitting, waiting, failures; coalescing through the API."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import torch

from service.batching import Batcher
from service.errors import Overloaded
from service.limits import QueueLimits
from service.main import create_app
from service.settings import Settings


class Recorder:
    """A fake model: doubles numbers, records every forward's batch size, can be slow."""

    def __init__(self, delay: float = 0.0) -> None:
        self.sizes: list[int] = []
        self.threads: list[str] = []  # the thread each forward ran in
        self.delay = delay

    def encode(self, items: Sequence[int]) -> torch.Tensor:
        if any(i < 0 for i in items):
            raise ValueError("negative input")
        return torch.tensor(items)

    def forward(self, x: torch.Tensor) -> list[int]:
        self.sizes.append(len(x))
        self.threads.append(threading.current_thread().name)
        time.sleep(self.delay)
        return (x * 2).tolist()


# a batcher's settings unless a test gives its own: the service's default batch size, no wait
# for company, an unbounded queue and every batch in the executor
UNBOUNDED = {
    "max_batch_size": Settings.model_fields["max_batch_size"].default,
    "max_wait": 0.0,
    "limits": None,
    "inline_seconds": 0.0,
}


def make_batcher(model: Recorder, executor: ThreadPoolExecutor, **kw: object) -> Batcher[int]:
    kw = {**UNBOUNDED, "size_of": lambda i: 1, **kw}
    return Batcher(model.encode, torch.cat, model.forward, executor, **kw)


@pytest.fixture
def executor():
    with ThreadPoolExecutor(1) as pool:
        yield pool


def test_concurrent_requests_share_forward_passes(executor: ThreadPoolExecutor) -> None:
    model = Recorder(delay=0.02)

    async def main() -> list[list[int]]:
        batcher = make_batcher(model, executor, max_batch_size=64)
        return await asyncio.gather(*(batcher.submit([i, i + 100]) for i in range(20)))

    results = asyncio.run(main())
    assert results == [[2 * i, 2 * (i + 100)] for i in range(20)]
    assert sum(model.sizes) == 40
    assert len(model.sizes) < 20 and max(model.sizes) > 2


def test_large_requests_are_split_and_merged(executor: ThreadPoolExecutor) -> None:
    model = Recorder()

    async def main() -> list[list[int]]:
        batcher = make_batcher(model, executor, max_batch_size=4)
        return await asyncio.gather(batcher.submit(list(range(10))), batcher.submit([50, 51]))

    big, small = asyncio.run(main())
    assert big == [2 * i for i in range(10)] and small == [100, 102]
    assert max(model.sizes) <= 4 and sum(model.sizes) == 12


def test_a_lone_request_does_not_wait_without_max_wait(executor: ThreadPoolExecutor) -> None:
    async def main() -> float:
        batcher = make_batcher(Recorder(), executor, max_wait=0.0)
        await batcher.submit([1])  # warm the executor thread
        start = time.perf_counter()
        await batcher.submit([1])
        return time.perf_counter() - start

    assert asyncio.run(main()) < 0.05


def test_max_wait_bounds_the_wait_for_company(executor: ThreadPoolExecutor) -> None:
    model = Recorder()

    async def main() -> tuple[float, float]:
        batcher = make_batcher(model, executor, max_batch_size=8, max_wait=0.2)
        start = time.perf_counter()
        await batcher.submit([1])
        lone = time.perf_counter() - start
        start = time.perf_counter()
        await asyncio.gather(*(batcher.submit([i]) for i in range(8)))  # a full batch
        return lone, time.perf_counter() - start

    lone, full = asyncio.run(main())
    assert 0.15 <= lone < 1.0
    assert full < 0.15
    assert model.sizes == [1, 8]


def test_a_bad_input_fails_only_its_request(executor: ThreadPoolExecutor) -> None:
    model = Recorder(delay=0.01)

    async def main() -> list[object]:
        batcher = make_batcher(model, executor)
        requests = [batcher.submit([1]), batcher.submit([-1]), batcher.submit([3])]
        return await asyncio.gather(*requests, return_exceptions=True)

    ok, failed, ok2 = asyncio.run(main())
    assert ok == [2] and ok2 == [6]
    assert isinstance(failed, ValueError)


def test_a_full_queue_sheds_at_once_and_drains(executor: ThreadPoolExecutor) -> None:
    model = Recorder(delay=0.05)
    shed: list[str] = []

    async def main() -> list[object]:
        limits = QueueLimits(max_inputs=4, max_bytes=10**9, max_wait=0.0, retry_after=3)
        batcher = make_batcher(
            model, executor, max_batch_size=2, limits=limits, on_shed=shed.append
        )
        first = asyncio.ensure_future(batcher.submit([1, 2]))  # taken at once: the queue empties
        await asyncio.sleep(0.01)
        queued = [asyncio.ensure_future(batcher.submit([i, i])) for i in (3, 4)]
        await asyncio.sleep(0)
        assert batcher.queued == 4 and batcher.full
        start = time.perf_counter()
        with pytest.raises(Overloaded) as refused:
            await batcher.submit([9])
        assert time.perf_counter() - start < 0.01  # at once, not after the queue drained
        assert refused.value.status_code == 503 and refused.value.headers == {"Retry-After": "3"}
        results = await asyncio.gather(first, *queued)
        assert batcher.queued == 0 and batcher.queued_bytes == 0 and not batcher.full
        return [*results, await batcher.submit([5])]

    assert asyncio.run(main()) == [[2, 4], [6, 6], [8, 8], [10]]
    assert shed == ["queue_full"]


def test_the_byte_limit_counts_inputs_and_an_empty_queue_takes_anything(
    executor: ThreadPoolExecutor,
) -> None:
    def encode(items: Sequence[bytes]) -> torch.Tensor:
        time.sleep(0.05)
        return torch.tensor([len(b) for b in items])

    async def main() -> None:
        limits = QueueLimits(max_inputs=100, max_bytes=10, max_wait=0.0, retry_after=1)
        batcher = Batcher(
            encode, torch.cat, torch.Tensor.tolist, executor, **{**UNBOUNDED, "limits": limits}
        )
        big = asyncio.ensure_future(batcher.submit([b"x" * 50]))  # over the limit, queue empty
        await asyncio.sleep(0)
        assert batcher.queued_bytes == 50
        with pytest.raises(Overloaded):
            await batcher.submit([b"y"])
        assert await big == [50]
        assert batcher.queued_bytes == 0
        assert await batcher.submit([b"y" * 6, b"z" * 4]) == [6, 4]

    asyncio.run(main())


def test_a_request_past_its_deadline_is_answered_503_not_late(
    executor: ThreadPoolExecutor,
) -> None:
    model = Recorder(delay=0.3)
    shed: list[str] = []

    async def main() -> None:
        limits = QueueLimits(max_inputs=100, max_bytes=10**9, max_wait=0.1, retry_after=1)
        batcher = make_batcher(
            model, executor, max_batch_size=4, limits=limits, on_shed=shed.append
        )
        busy = asyncio.ensure_future(batcher.submit([1]))  # holds the model for 0.3 s
        await asyncio.sleep(0.01)
        start = time.perf_counter()
        with pytest.raises(Overloaded, match="waited over 100 ms"):
            await batcher.submit([2])
        assert 0.09 < time.perf_counter() - start < 0.25  # at the deadline, not after 0.3 s
        assert batcher.queued == 0
        assert await busy == [2]  # started before its deadline: served

    asyncio.run(main())
    assert shed == ["deadline"] and model.sizes == [1]


def test_quick_batches_run_on_the_event_loop_once_measured(executor: ThreadPoolExecutor) -> None:
    model = Recorder()

    async def main() -> list[list[int]]:
        batcher = make_batcher(model, executor, inline_seconds=1.0)
        results = [await batcher.submit([i]) for i in range(3)]
        results += await asyncio.gather(*(batcher.submit([i, i]) for i in range(10)))
        return results

    results = asyncio.run(main())
    assert results == [[0], [2], [4]] + [[2 * i, 2 * i] for i in range(10)]
    loop_thread = threading.main_thread().name
    assert model.threads[0] != loop_thread  # no estimate of its cost yet: a thread
    assert model.threads[1:] == [loop_thread] * (len(model.threads) - 1)
    assert sum(model.sizes) == 23 and len(model.sizes) < 13  # inline batches still coalesce


def test_slow_batches_stay_in_a_thread(executor: ThreadPoolExecutor) -> None:
    model = Recorder(delay=0.02)

    async def main() -> None:
        batcher = make_batcher(model, executor, inline_seconds=0.01)
        for i in range(3):
            assert await batcher.submit([i]) == [2 * i]

    asyncio.run(main())
    assert threading.main_thread().name not in model.threads


def test_the_loop_runs_between_inline_batches(executor: ThreadPoolExecutor) -> None:
    """An inline batch hands the loop back before the next one, so it reads new requests
    (and answers anything else) between forward passes instead of after the whole queue."""
    model = Recorder()
    events: list[str] = []

    async def main() -> None:
        def forward(x: torch.Tensor) -> list[int]:
            events.append("forward")
            return model.forward(x)

        kw = {**UNBOUNDED, "max_batch_size": 1, "inline_seconds": 1.0}
        batcher = Batcher(model.encode, torch.cat, forward, executor, **kw)
        await batcher.submit([0])  # measured: from now on inline
        events.clear()

        async def ticker() -> None:
            for _ in range(8):
                events.append("tick")
                await asyncio.sleep(0)

        queued = [batcher.submit([i]) for i in range(1, 5)]
        results = await asyncio.gather(*queued, ticker())
        assert results[:4] == [[2], [4], [6], [8]]

    asyncio.run(main())
    assert events.count("forward") == 4
    assert "forward, forward" not in ", ".join(events)


def test_concurrent_api_requests_are_coalesced(make_settings: Callable[..., Settings]) -> None:
    """32 requests at once, a batch of 32 and time enough to fill it: one forward pass."""
    app = create_app(make_settings(max_wait_ms=10_000, max_batch_size=32))

    async def main() -> tuple[list[int], str]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                replies = await asyncio.gather(
                    *(client.post("/classify", json={"text": f"why is it {i}"}) for i in range(32))
                )
                metrics = (await client.get("/metrics")).text
        return [r.status_code for r in replies], metrics

    statuses, metrics = asyncio.run(main())
    assert statuses == [200] * 32
    count = float(re.search(r'textcnn_batch_size_count\{model="text"\} (\S+)', metrics)[1])
    total = float(re.search(r'textcnn_batch_size_sum\{model="text"\} (\S+)', metrics)[1])
    assert (total, count) == (32, 1)

"""The dynamic batcher: coalescing, splitting, waiting, failures; coalescing through the API."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import torch

from service.batching import Batcher
from service.main import create_app
from service.settings import Settings


class Recorder:
    """A fake model: doubles numbers, records every forward's batch size, can be slow."""

    def __init__(self, delay: float = 0.0) -> None:
        self.sizes: list[int] = []
        self.delay = delay

    def encode(self, items: Sequence[int]) -> torch.Tensor:
        if any(i < 0 for i in items):
            raise ValueError("negative input")
        return torch.tensor(items)

    def forward(self, x: torch.Tensor) -> list[int]:
        self.sizes.append(len(x))
        time.sleep(self.delay)
        return (x * 2).tolist()


def make_batcher(model: Recorder, executor: ThreadPoolExecutor, **kw: float) -> Batcher[int]:
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


def test_concurrent_api_requests_are_coalesced(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(max_wait_ms=20))

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
    assert total == 32
    assert count < 32  # fewer forward passes than requests: batches of more than one
    assert 'textcnn_batch_size_bucket{le="1.0",model="text"} 0.0' in metrics or count < 16

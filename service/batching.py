"""Dynamic batching: concurrent requests to one model share forward passes.

Requests queue their inputs; one task per model takes up to ``max_batch_size`` inputs off the
queue (splitting a large request, merging small ones), runs encode + forward in an executor
thread (or, for a batch that recent ones say is quicker than ``inline_seconds``, on the event
loop itself: the hand-off costs more CPU than a small text batch), and hands every request its
results. While a batch runs, new requests queue up and
form the next batch, so batches grow with load without any request waiting on a timer. With
``max_wait > 0`` a batch that is not full also waits for company, at most ``max_wait`` seconds
after its oldest request arrived.

Each batcher belongs to one model version: requests queued on it finish on that version even
when the service has swapped in a newer one. The worker task runs only while there is work, so
a retired batcher needs no shutdown.

The queue is bounded (``QueueLimits``): a request that would overfill it, or that waits past
its deadline for a first forward pass, fails at once with ``Overloaded`` (503, Retry-After),
so every route that submits here sheds load the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import torch

from service.errors import Overloaded
from service.limits import QueueLimits

R = TypeVar("R")


@dataclass(eq=False)
class _Request:
    items: Sequence[Any]
    future: asyncio.Future
    enqueued: float
    nbytes: int = 0
    started: bool = False  # a slice of it has been taken into a batch
    counted: bool = True  # its bytes still count towards the queue's
    results: list[Any] = field(init=False)
    remaining: int = field(init=False)

    def __post_init__(self) -> None:
        self.results = [None] * len(self.items)
        self.remaining = len(self.items)


@dataclass(eq=False)
class _Slice:
    request: _Request
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


class Batcher(Generic[R]):
    """Coalesces ``submit(items)`` calls into ``forward(collate([encode(items), ...]))`` calls.

    ``encode`` runs per request slice, so an input it rejects fails only its own request.
    ``size_of(item)`` is what one input counts towards ``limits.max_bytes``.
    ``on_batch(size, seconds)``, ``on_queue(change)`` and ``on_shed(reason)`` report to metrics.
    The batching and queue limits have no defaults here: the service's settings give them.
    """

    def __init__(
        self,
        encode: Callable[[Sequence[Any]], torch.Tensor],
        collate: Callable[[Sequence[torch.Tensor]], torch.Tensor],
        forward: Callable[[torch.Tensor], Sequence[R]],
        executor: Executor,
        *,
        max_batch_size: int,
        max_wait: float,
        limits: QueueLimits | None,
        inline_seconds: float,
        on_batch: Callable[[int, float], None] | None = None,
        on_queue: Callable[[int], None] | None = None,
        size_of: Callable[[Any], int] = len,
        on_shed: Callable[[str], None] | None = None,
    ) -> None:
        self._encode = encode
        self._collate = collate
        self._forward = forward
        self._executor = executor
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait
        self._on_batch = on_batch
        self._on_queue = on_queue
        self.limits = limits  # None: unbounded
        self._size_of = size_of
        self._on_shed = on_shed
        self.inline_seconds = inline_seconds
        self._seconds_per_input: float | None = None  # of recent batches; None: none yet
        self._queue: deque[_Slice] = deque()
        self._queued = 0
        self._queued_bytes = 0
        self._task: asyncio.Task | None = None
        self._wakeup: asyncio.Event | None = None

    @property
    def queued(self) -> int:
        """Inputs waiting for a forward pass."""
        return self._queued

    @property
    def queued_bytes(self) -> int:
        """What the requests waiting (wholly or partly) for a forward pass count in bytes."""
        return self._queued_bytes

    @property
    def full(self) -> bool:
        """Whether the next request would be refused (routes check it before reading a body)."""
        return self.limits is not None and self.limits.full(self._queued, self._queued_bytes)

    async def submit(self, items: Sequence[Any]) -> list[R]:
        """Results for ``items``, in order; raises what ``encode`` or ``forward`` raised, or
        ``Overloaded`` when the queue is full or the request waited past its deadline."""
        if not items:
            return []
        limits = self.limits
        nbytes = sum(map(self._size_of, items)) if limits is not None else 0
        if limits is not None and not limits.admits(
            self._queued, self._queued_bytes, len(items), nbytes
        ):
            raise self.shed(
                "queue_full",
                f"the model is overloaded ({self._queued} inputs queued); retry later",
            )
        loop = asyncio.get_running_loop()
        request = _Request(items, loop.create_future(), loop.time(), nbytes)
        head = _Slice(request, 0, len(items))
        self._queue.append(head)
        self._count(len(items))
        self._queued_bytes += nbytes
        deadline = limits.max_wait if limits is not None else 0
        timer = loop.call_later(deadline, self._expire, head) if deadline > 0 else None
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        elif self._wakeup is not None:
            self._wakeup.set()
        try:
            return await request.future
        finally:
            if timer is not None:
                timer.cancel()

    def shed(self, reason: str, detail: str) -> Overloaded:
        """The 503 for a request refused for ``reason``, counted by ``on_shed``."""
        if self._on_shed is not None:
            self._on_shed(reason)
        return Overloaded(detail, reason, self.limits.retry_after if self.limits else 1)

    def _expire(self, head: _Slice) -> None:
        """The deadline passed: fail the request if no forward pass has started on it."""
        request = head.request
        if request.started or request.future.done():
            return
        self._queue.remove(head)
        self._count(-len(head))
        self._release(request)
        wait_ms = round(self.limits.max_wait * 1000) if self.limits else 0
        request.future.set_exception(
            self.shed("deadline", f"the model is overloaded (waited over {wait_ms} ms); retry")
        )

    def _release(self, request: _Request) -> None:
        if request.counted:
            request.counted = False
            self._queued_bytes -= request.nbytes

    def _count(self, change: int) -> None:
        self._queued += change
        if self._on_queue is not None:
            self._on_queue(change)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        batch: list[_Slice] = []
        try:
            while self._queue:
                await self._wait_for_company(loop)
                batch = self._take()
                if not batch:
                    continue
                size = sum(len(s) for s in batch)
                inline = self._runs_inline(size)
                started = time.perf_counter()
                if inline:
                    outputs = self._process(batch)
                else:
                    try:
                        outputs = await loop.run_in_executor(self._executor, self._process, batch)
                    except Exception as exc:  # the executor itself failed (e.g. shut down)
                        outputs = [exc] * len(batch)
                seconds = time.perf_counter() - started
                self._observe(size, seconds)
                if self._on_batch is not None:
                    self._on_batch(size, seconds)
                self._deliver(batch, outputs)
                batch = []
                if inline:  # let the loop read the requests that arrived meanwhile
                    await asyncio.sleep(0)
        finally:  # cancelled (shutdown): nobody may wait forever
            stranded = [*batch, *self._queue]
            self._queue.clear()
            self._count(-self._queued)
            self._queued_bytes = 0
            for s in stranded:
                if not s.request.future.done():
                    s.request.future.set_exception(RuntimeError("the service is shutting down"))

    async def _wait_for_company(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.max_wait <= 0:
            return
        deadline = self._queue[0].request.enqueued + self.max_wait
        while self._queued < self.max_batch_size and (delay := deadline - loop.time()) > 0:
            self._wakeup = asyncio.Event()
            try:
                await asyncio.wait_for(self._wakeup.wait(), delay)
            except TimeoutError:
                break
            finally:
                self._wakeup = None

    def _runs_inline(self, size: int) -> bool:
        """Whether a batch of ``size`` inputs is expected to be quick enough to run on the
        event loop itself: the hand-off to a thread and back costs more CPU than a small
        text batch's forward pass, and the loop has nothing else to do meanwhile but read."""
        per_input = self._seconds_per_input
        return per_input is not None and per_input * size < self.inline_seconds

    def _observe(self, size: int, seconds: float) -> None:
        per_input = seconds / size
        old = self._seconds_per_input
        self._seconds_per_input = per_input if old is None else 0.8 * old + 0.2 * per_input

    def _take(self) -> list[_Slice]:
        """Up to ``max_batch_size`` inputs from the head of the queue, splitting the last."""
        batch: list[_Slice] = []
        size = 0
        while self._queue and size < self.max_batch_size:
            head = self._queue[0]
            if head.request.future.done():  # cancelled, or failed in an earlier slice
                self._queue.popleft()
                self._count(-len(head))
                self._release(head.request)
                continue
            head.request.started = True
            n = min(len(head), self.max_batch_size - size)
            if n == len(head):
                self._queue.popleft()
                self._release(head.request)
                batch.append(head)
            else:
                batch.append(_Slice(head.request, head.start, head.start + n))
                head.start += n
            size += n
        self._count(-size)
        return batch

    def _process(self, batch: list[_Slice]) -> list[Sequence[R] | Exception]:
        """Encode each slice, run one forward over the ones that encoded (executor thread)."""
        outputs: list[Sequence[R] | Exception] = []
        encoded: list[torch.Tensor] = []
        for s in batch:
            try:
                x = self._encode(s.request.items[s.start : s.end])
            except Exception as exc:
                outputs.append(exc)
            else:
                encoded.append(x)
                outputs.append([])
        if not encoded:
            return outputs
        try:
            results = self._forward(self._collate(encoded))
        except Exception as exc:
            return [out if isinstance(out, Exception) else exc for out in outputs]
        offset = 0
        for i, s in enumerate(batch):
            if not isinstance(outputs[i], Exception):
                outputs[i] = results[offset : offset + len(s)]
                offset += len(s)
        return outputs

    @staticmethod
    def _deliver(batch: list[_Slice], outputs: list[Sequence[R] | Exception]) -> None:
        for s, out in zip(batch, outputs, strict=True):
            request = s.request
            if request.future.done():
                continue
            if isinstance(out, Exception):
                request.future.set_exception(out)
                continue
            request.results[s.start : s.end] = out
            request.remaining -= len(s)
            if request.remaining == 0:
                request.future.set_result(request.results)

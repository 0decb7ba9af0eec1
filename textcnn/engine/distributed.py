"""``torchrun`` support: join the process group from the environment; rank 0 does the I/O.

``torchrun --nproc_per_node N -m textcnn train ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous address; ``fit`` then trains with DistributedDataParallel
(NCCL on GPUs, one per local rank; gloo on CPUs). Without those variables all of this is a
no-op and training runs in one process.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import torch
import torch.distributed as dist

# Imported here, before any process group exists, on purpose: this module binds
# ``group.WORLD`` as default arguments when first imported, and DistributedDataParallel
# imports it (through torch._dynamo). Imported after ``init_process_group`` it would keep the
# group alive past ``destroy_process_group``, its gloo worker threads would outlive the
# interpreter, and one releasing a broadcast's tensors at exit aborted the process
# ("terminate called without an active exception", about one torchrun in ten).
import torch.distributed.nn.functional  # noqa: F401
from torch import nn

from textcnn.errors import TextCNNError

T = TypeVar("T")


def launched_distributed() -> bool:
    """True in a process started by ``torchrun`` with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def rank_world() -> tuple[int, int]:
    """This process's rank and the number of processes (0, 1 outside a process group)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Whether this process writes bundles, logs and output (rank 0, or no torchrun)."""
    return rank_world()[0] == 0


def rank_device(device: torch.device) -> torch.device:
    """This rank's device: every CUDA device (``cuda`` or ``cuda:N``) becomes
    ``cuda:LOCAL_RANK``, one GPU per process as NCCL requires (a launcher that restricts the
    GPUs a node's ranks see does so with ``CUDA_VISIBLE_DEVICES``); the CPU stays the CPU."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    return torch.device("cuda", local_rank) if device.type == "cuda" else device


def init_distributed(device: torch.device) -> torch.device:
    """Join the ``torchrun`` process group if there is one; return this rank's device
    (``rank_device``)."""
    if not launched_distributed():
        return device
    device = rank_device(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, device_id=device if device.type == "cuda" else None)
    return device


def join_process_group() -> None:
    """Join the ``torchrun`` process group before the training device is known (a retrain
    agrees on its plan first): gloo for objects and CPU tensors, with NCCL for CUDA tensors
    where CUDA is available, so that the later ``init_distributed`` can train on either."""
    if not launched_distributed() or dist.is_initialized():
        return
    dist.init_process_group("cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")


def shutdown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(*values: torch.Tensor) -> None:
    """Sum tensors over all ranks, in place (no-op in one process)."""
    if dist.is_available() and dist.is_initialized():
        for value in values:
            dist.all_reduce(value)


@torch.no_grad()
def average_buffers(model: nn.Module) -> None:
    """Average floating-point buffers (batch-norm statistics) over ranks, so that every rank
    evaluates, and rank 0 saves, statistics of the whole data set."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    world = dist.get_world_size()
    for buffer in model.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer)
            buffer.div_(world)


def run_on_main(step: Callable[[], T]) -> T:
    """Run ``step`` on rank 0 alone and return its value on every rank, or raise its error:
    the other ranks stop with rank 0's message at once instead of waiting in a collective
    until it times out. ``step``'s value must pickle. One process: ``step()``."""
    if not (dist.is_available() and dist.is_initialized()):
        return step()
    if dist.get_rank() != 0:
        box: list[Any] = [None]
        dist.broadcast_object_list(box, src=0)
        ok, payload = box[0]
        if not ok:
            raise TextCNNError(payload)
        return payload
    try:
        value = step()
    except Exception as exc:
        message = str(exc) if isinstance(exc, TextCNNError) else f"rank 0 failed: {exc!r}"
        dist.broadcast_object_list([(False, message)], src=0)
        raise
    dist.broadcast_object_list([(True, value)], src=0)
    return value

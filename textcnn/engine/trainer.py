"""The training loop shared by every modality: plain PyTorch, tensors kept on the device.

A modality plugs in through a ``BatchTransform`` (text trims padding, images augment and
normalise) and its model through the shared ``Classifier``. Under ``torchrun`` each rank
takes its shard of every epoch's permutation and ``batch_size / world`` examples a step (so
the global batch, steps and schedule are a single process's), and gradients are averaged by
DDP.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from textcnn.engine.config import TrainConfig
from textcnn.engine.device import autocast_dtype, configure_cpu, resolve_device, tf32
from textcnn.engine.distributed import (
    all_reduce_sum,
    average_buffers,
    init_distributed,
    rank_world,
)
from textcnn.engine.ema import WeightAverage
from textcnn.engine.epochs import EpochLog, TrainResult
from textcnn.engine.forward import forward_logits
from textcnn.models.blocks import Classifier

log = logging.getLogger(__name__)
DEFAULT_LR = {"adadelta": 1.0, "adam": 1e-3, "adamw": 1e-3, "sgd": 0.1}


@dataclass
class Split:
    """Inputs and integer labels with the same first dimension; or, for multi-label data,
    ``[N, C]`` 0/1 float targets (then training uses a sigmoid per class and binary
    cross-entropy, and dev data is scored by micro-F1 at probability 0.5).

    ``lengths`` (optional, on the CPU) are the rows' real lengths along dimension 1, the rest
    being trailing padding that never changes a model's output (text): training then batches
    similar lengths together, and every batch, in training and evaluation, is cut to its
    longest row, on every device, without reading anything back from it.

    ``soft`` (optional, ``[N, C]``): a teacher's logits, which training then also learns
    from (``TrainConfig.distill_weight``).
    """

    x: torch.Tensor
    y: torch.Tensor
    lengths: torch.Tensor | None = None
    soft: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.y)

    @property
    def multi_label(self) -> bool:
        return self.y.dim() == 2

    def to(self, device: torch.device) -> Split:
        soft = to_device(self.soft, device) if self.soft is not None else None
        return Split(to_device(self.x, device), to_device(self.y, device), self.lengths, soft)


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``x`` on ``device``; to a GPU through pinned memory, so the copy is asynchronous."""
    if device.type == "cuda" and x.device.type == "cpu":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)


def batch_width(lengths: torch.Tensor, device: torch.device) -> int:
    """Columns a batch of rows of ``lengths`` needs: its longest row (at least 1), rounded
    up to a multiple of 8 on accelerators, where each new input shape costs a cuDNN or
    ``torch.compile`` search."""
    width = max(1, int(lengths.max())) if len(lengths) else 1
    return width if device.type == "cpu" else -(-width // 8) * 8


def bucketed(order: torch.Tensor, lengths: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Reorder a random permutation so each batch holds similar lengths, batches shuffled.

    Pools of 50 batches are sorted by length, cut into batches, and the batches permuted.
    """
    pool = batch_size * 50
    chunks = []
    for start in range(0, len(order), pool):
        part = order[start : start + pool]
        chunks.append(part[torch.sort(lengths[part], stable=True).indices])
    ordered = torch.cat(chunks)
    batches = list(torch.split(ordered, batch_size))
    shuffle = torch.randperm(len(batches), generator=torch.Generator().manual_seed(int(order[0])))
    return torch.cat([batches[i] for i in shuffle.tolist()])


def epoch_order(train: Split, generator: torch.Generator, batch_size: int) -> torch.Tensor:
    """One epoch's example order: a permutation, length-bucketed for variable-length inputs."""
    order = torch.randperm(len(train), generator=generator)
    if train.lengths is not None:
        order = bucketed(order, train.lengths, batch_size)
    return order


def steps_per_epoch(examples: int, batch: int, drop_last: bool) -> int:
    """Optimizer steps over ``examples`` in batches of ``batch`` (the last one short unless
    ``drop_last`` and there is at least one full batch)."""
    if drop_last and examples >= batch:
        return examples // batch
    return math.ceil(examples / batch)


class BatchTransform(Protocol):
    def train(self, x: torch.Tensor) -> torch.Tensor: ...

    def eval(self, x: torch.Tensor) -> torch.Tensor: ...


# A recipe's own optimiser and schedule: (model, config, total steps) -> (optimizer, scheduler).
OptimizerFactory = Callable[
    [nn.Module, TrainConfig, int],
    tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None],
]


class Identity:
    def train(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def eval(self, x: torch.Tensor) -> torch.Tensor:
        return x


def make_optimizer(params: list[nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    lr = cfg.lr if cfg.lr is not None else DEFAULT_LR[cfg.optimizer]
    if cfg.optimizer == "adadelta":
        from textcnn.engine.optim import SparseAdadelta

        # torch's Adadelta for dense gradients, lazy exact row updates for sparse ones.
        return SparseAdadelta(
            params, lr=lr, rho=0.95, eps=1e-6, weight_decay=cfg.weight_decay, foreach=True
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(
        params, lr=lr, momentum=cfg.momentum, nesterov=True, weight_decay=cfg.weight_decay
    )


def _show_progress(step: int, steps: int, device: torch.device) -> bool:
    """Whether to refresh the bar's running loss and accuracy: every 20 steps on the CPU,
    only at the epoch's last step on an accelerator (reading a value waits for the device)."""
    return step == steps - 1 or (device.type == "cpu" and step % 20 == 0)


def autocast(device: torch.device, dtype: torch.dtype | None) -> torch.autocast:
    return torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    x: torch.Tensor,
    transform: BatchTransform | None = None,
    batch_size: int = 1000,
    tta: bool = False,
    lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    """Float32 logits for all of ``x`` in eval mode, batch by batch, on ``x``'s device.

    No autocast: dev accuracy, and so the best epoch, is measured in the precision of the
    test and gate evaluations (the float32 ``Predictor``). With ``lengths`` (``Split``) the
    rows go in length order, each batch cut to its longest row.
    """
    transform = transform or Identity()
    was_training = model.training
    model.eval()
    device = x.device
    order = torch.argsort(lengths, stable=True) if lengths is not None else None
    out = []
    for start in range(0, len(x), batch_size):
        if order is None:
            batch = x[start : start + batch_size]
        else:
            rows = order[start : start + batch_size]
            batch = x[rows.to(device), : batch_width(lengths[rows], device)]
        out.append(forward_logits(model, transform.eval(batch), tta))
    model.train(was_training)
    if not out:
        return torch.empty(0, 0, device=device)
    logits = torch.cat(out)
    if order is not None:
        logits = logits[torch.argsort(order).to(device)]
    return logits


def accuracy(model: nn.Module, split: Split, transform: BatchTransform, cfg: TrainConfig) -> float:
    """``split_score`` of ``model``'s logits."""
    logits = predict_logits(
        model, split.x, transform, cfg.eval_batch_size, cfg.tta, lengths=split.lengths
    )
    return split_score(logits, split)


def split_score(logits: torch.Tensor, split: Split) -> float:
    """Accuracy; micro-F1 at probability 0.5 for multi-label data (see ``dev_metric``)."""
    if split.multi_label:
        predicted, truth = logits > 0, split.y > 0.5
        found = 2 * (predicted & truth).sum().item()
        return found / max(1, predicted.sum().item() + truth.sum().item())
    return (logits.argmax(1) == split.y).float().mean().item()


def dev_metric(split: Split) -> str:
    """The name of what ``accuracy`` measures on ``split``."""
    return "micro_f1" if split.multi_label else "accuracy"


def loss_of(
    logits: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, soft: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy; for multi-label targets, binary cross-entropy per class summed over
    the classes (so a step's scale matches the single-label loss), smoothed towards 0.5.

    With a teacher's logits ``soft``, mixed (``cfg.distill_weight``) with the same loss
    against the teacher's probabilities, its soft labels (Hinton et al. 2015, temperature 1).
    """
    if y.dim() == 2:
        target = y * (1 - cfg.label_smoothing) + cfg.label_smoothing / 2
        hard = F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / len(y)
    else:
        hard = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
    if soft is None:
        return hard
    if y.dim() == 2:
        taught = F.binary_cross_entropy_with_logits(
            logits, torch.sigmoid(soft), reduction="sum"
        ) / len(y)
    else:
        taught = -(F.softmax(soft, dim=1) * F.log_softmax(logits, dim=1)).sum(1).mean()
    return (1 - cfg.distill_weight) * hard + cfg.distill_weight * taught


def hits(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Correct predictions in a batch: exact label sets at 0.5 for multi-label targets."""
    if y.dim() == 2:
        return ((logits > 0) == (y > 0.5)).all(1).sum()
    return (logits.argmax(1) == y).sum()


def _any_rank(stop: bool, device: torch.device) -> bool:
    """Whether any rank's patience ran out, agreed by every rank (near-tie dev scores may
    differ between GPUs; one rank leaving the loop alone would hang the others' next
    all-reduce)."""
    votes = torch.tensor(float(stop), device=device)
    all_reduce_sum(votes)
    return votes.item() > 0


def _step_model(model: nn.Module, cfg: TrainConfig, device: torch.device, world: int) -> nn.Module:
    """What each training step calls: ``model``, wrapped by DDP under ``torchrun`` and
    compiled with ``cfg.compile``."""
    step_model = model
    if world > 1:
        # Gradients live in DDP's buckets, laid out like their (maybe channels-last)
        # parameters: no copy, and no stride mismatch between a gradient and its bucket.
        # Buffers are not re-sent before every step (the n-gram index alone is 4 MiB): the
        # text terms' buffers are fitted after training, equal on every rank until then, and
        # batch-norm statistics, which no training step reads, are averaged over the ranks
        # before each evaluation (``average_buffers``).
        step_model = nn.parallel.DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            gradient_as_bucket_view=True,
            broadcast_buffers=False,
        )
    if cfg.compile:
        step_model = torch.compile(step_model)
    return step_model


def _optimizer(
    model: nn.Module, cfg: TrainConfig, total_steps: int, factory: OptimizerFactory | None
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
    """``factory``'s optimiser and schedule, else ``cfg``'s (``make_optimizer``, and the
    one-cycle schedule when asked for)."""
    if factory is not None:
        return factory(model, cfg, total_steps)
    optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad], cfg)
    scheduler = None
    if cfg.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=optimizer.param_groups[0]["lr"],
            total_steps=total_steps,
            pct_start=0.25,
            anneal_strategy="linear",
        )
    return optimizer, scheduler


def fit(
    model: Classifier,
    train: Split,
    dev: Split | None,
    cfg: TrainConfig,
    transform: BatchTransform | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    optimizer_factory: OptimizerFactory | None = None,
) -> TrainResult:
    """Train ``model`` in place and leave it at the epoch with the best dev accuracy.

    Without ``dev`` the last epoch is kept. With ``cfg.patience`` training stops once that
    many epochs in a row have not improved dev accuracy. Steps run under ``cfg.precision``'s
    autocast (fp16 with a gradient scaler), evaluation in float32. Returns the per-epoch
    history.
    ``optimizer_factory`` replaces ``cfg``'s optimiser and schedule (stepped once a step).
    """
    transform = transform or Identity()
    device = init_distributed(resolve_device(cfg.device))
    configure_cpu(cfg.threads)
    rank, world = rank_world()
    torch.manual_seed(cfg.seed + rank)
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    train, dev = train.to(device), dev.to(device) if dev is not None else None
    core = model
    step_model = _step_model(model, cfg, device, world)
    dtype = autocast_dtype(cfg.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    per_rank = math.ceil(len(train) / world)
    batch = math.ceil(cfg.batch_size / world)
    steps = steps_per_epoch(per_rank, batch, cfg.drop_last)
    optimizer, scheduler = _optimizer(model, cfg, cfg.epochs * steps, optimizer_factory)
    average = WeightAverage(model, cfg.ema) if cfg.ema > 0 else None
    generator = torch.Generator().manual_seed(cfg.seed)
    metric = f"dev_{dev_metric(dev if dev is not None else train)}"
    epoch_log = EpochLog(cfg.patience)
    compile_seconds = 0.0
    started = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        epoch_start = time.perf_counter()
        order = epoch_order(train, generator, cfg.batch_size)
        if world > 1:
            order = torch.cat([order, order[: per_rank * world - len(order)]])[rank::world]
        device_order = order.to(device)
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        bar = tqdm(
            range(steps),
            desc=f"epoch {epoch}/{cfg.epochs}",
            leave=False,
            disable=not cfg.progress or rank != 0,
            unit="batch",
        )
        for step in bar:
            step_start = time.perf_counter()
            rows = slice(step * batch, (step + 1) * batch)
            x, y = train.x[device_order[rows]], train.y[device_order[rows]]
            soft = train.soft[device_order[rows]] if train.soft is not None else None
            if train.lengths is not None:
                x = x[:, : batch_width(train.lengths[order[rows]], device)]
            x = transform.train(x)
            with tf32(cfg.tf32):
                with autocast(device, dtype):
                    logits = step_model(x)
                    loss = loss_of(logits.float(), y, cfg, soft)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            if scheduler is not None:
                scheduler.step()
            core.head.apply_max_norm()
            if average is not None:
                average.update()
            if cfg.compile and epoch == 1 and step == 0:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                compile_seconds = time.perf_counter() - step_start
            loss_sum += loss.detach() * len(y)
            correct += hits(logits, y)
            if not bar.disable and _show_progress(step, steps, device):
                done = min((step + 1) * batch, len(order))
                bar.set_postfix(
                    loss=f"{loss_sum.item() / done:.4f}", acc=f"{correct.item() / done:.3f}"
                )
        seen = torch.tensor(float(min(steps * batch, len(order))), device=device)
        all_reduce_sum(loss_sum, correct, seen)
        average_buffers(model)
        record: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": round(loss_sum.item() / seen.item(), 5),
            "train_accuracy": round(correct.item() / seen.item(), 5),
        }
        if dev is not None:
            with average.applied() if average is not None else contextlib.nullcontext():
                record[metric] = round(accuracy(model, dev, transform, cfg), 5)
                epoch_log.scored(model, epoch, record[metric])
        record["seconds"] = round(time.perf_counter() - epoch_start, 3)
        epoch_log.history.append(record)
        if rank == 0:
            log.info(json.dumps(record))
            if on_epoch is not None:
                on_epoch(record)
        stop = epoch_log.out_of_patience(epoch)
        if dev is not None and cfg.patience is not None and _any_rank(stop, device):
            best = epoch_log.best_epoch
            log.info("early stop after epoch %d: best %s at epoch %d", epoch, metric, best)
            break
    seconds = time.perf_counter() - started
    dev_name = metric.removeprefix("dev_")
    return epoch_log.result(model, average, cfg.epochs, seconds, dev_name, compile_seconds)

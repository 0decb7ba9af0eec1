"""Cross-validation folds trained side by side: one batched forward, one optimizer step.

Kim's protocol trains K small TextCNNs; on a GPU their time is kernel launches, not
arithmetic. Here the K fold models stay ordinary ``Classifier`` modules (built, evaluated and
bundled exactly as in sequential CV), while each training step runs all of them together:
every fold embeds its own batch with its own table, the convolutions of all folds run as one
grouped convolution, the heads as one batched matrix product, and a single optimizer steps
every fold's parameters.

Each fold keeps what makes its run its own: its permutation generator, its random stream
(word dropout and dropout masks are drawn from it in the sequential order), its batch sizes
and steps, its weight average (``--ema``), its best epoch and its early stop. On the CPU the
results equal sequential ``fit`` up to floating-point noise; a fold whose batches ran out, or
that stopped early, simply has no gradient and so takes no step.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import time
from typing import Any

import torch
import torch.nn.functional as F

from textcnn.engine.config import TrainConfig
from textcnn.engine.device import autocast_dtype, configure_cpu, resolve_device, tf32
from textcnn.engine.ema import WeightAverage
from textcnn.engine.trainer import (
    BatchTransform,
    Split,
    TrainResult,
    accuracy,
    autocast,
    batch_width,
    dev_metric,
    epoch_order,
    hits,
    loss_of,
    make_optimizer,
    steps_per_epoch,
)
from textcnn.models.blocks import Classifier, padding_bias
from textcnn.models.token_ids import PAD_ID

log = logging.getLogger(__name__)
MEMORY_SHARE = 0.5  # of free device memory the K models may plan to use


def unsupported(cfg: TrainConfig) -> str | None:
    """Why this training setting cannot run fold-parallel (``None`` when it can)."""
    if cfg.compile:
        return "`compile`"
    if cfg.schedule != "constant":
        return f"`schedule` {cfg.schedule}"
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return "torchrun"
    return None


def planned_bytes(models: list[Classifier], trains: list[Split], batch_size: int) -> int:
    """A generous estimate of fold-parallel training memory: each parameter with its gradient
    and two optimizer states, plus one step's embedded batch and feature maps per fold."""
    params = sum(p.numel() for m in models for p in m.parameters()) * 4 * 4
    longest = max(int(t.x.shape[1]) for t in trains)
    enc = models[0].encoder
    width = enc.convs.convs[0].in_channels + enc.out_features
    return params + len(models) * batch_size * longest * width * 4 * 6


def fits_in_memory(need: int, device: torch.device) -> bool:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
    else:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return need <= free * MEMORY_SHARE


class _Streams:
    """Per-fold random streams for the global-RNG draws (word dropout, dropout masks).

    On the CPU each fold's stream is the global generator's state, seeded as ``fit`` seeds
    it and swapped in around that fold's draws, so they are the draws sequential training
    makes; on accelerators the folds share the device's stream.
    """

    def __init__(self, folds: int, seed: int, device: torch.device) -> None:
        self.exact = device.type == "cpu"
        saved = torch.get_rng_state()
        torch.manual_seed(seed)
        self.states = [torch.get_rng_state() for _ in range(folds)]
        torch.set_rng_state(saved)

    def enter(self, fold: int) -> None:
        if self.exact:
            self._outside = torch.get_rng_state()
            torch.set_rng_state(self.states[fold])

    def leave(self, fold: int) -> None:
        if self.exact:
            self.states[fold] = torch.get_rng_state()
            torch.set_rng_state(self._outside)


def _pad(rows: list[torch.Tensor], width: int) -> torch.Tensor:
    """``[P, B, width]`` token ids: each fold's batch padded with ``PAD_ID`` rows and columns."""
    batch = max(len(r) for r in rows)
    out = rows[0].new_full((len(rows), batch, width), PAD_ID)
    for i, r in enumerate(rows):
        out[i, : r.shape[0], : r.shape[1]] = r
    return out


def batched_features(models: list[Classifier], ids: torch.Tensor) -> torch.Tensor:
    """Pooled features ``[B, P, maps*widths]`` of ``P`` fold models on their own ids
    ``[P, B, T]``: the values ``encoder(ids[i])`` gives, as one grouped convolution."""
    folds, batch, steps = ids.shape
    embedded = torch.stack([m.encoder.embed(x) for m, x in zip(models, ids, strict=True)])
    x = embedded.permute(1, 0, 3, 2).reshape(batch, -1, steps)  # [B, P*dim, T]
    lengths = (ids != PAD_ID).sum(dim=2).clamp(min=1).T.reshape(-1)  # [B*P]
    banks = [m.encoder.convs for m in models]
    pooled = []
    for i, width in enumerate(banks[0].widths):
        weight = torch.cat([b.convs[i].weight for b in banks])
        bias = torch.cat([b.convs[i].bias for b in banks])
        h = F.conv1d(x, weight, bias, padding=width - 1, groups=folds)
        h = h.view(batch * folds, -1, h.shape[-1])
        h = h + padding_bias(lengths, width, h.shape[-1], h.dtype)
        pooled.append(h.amax(dim=-1).view(batch, folds, -1))
    return F.relu(torch.cat(pooled, dim=-1))


def batched_logits(
    models: list[Classifier], features: torch.Tensor, keep: torch.Tensor | None
) -> torch.Tensor:
    """``[P, B, classes]``: each fold's head on its features ``[B, P, F]``, after multiplying
    by the dropout scale ``keep`` (``[B, P, F]``, or ``None`` in evaluation)."""
    if keep is not None:
        features = features * keep
    weight = torch.stack([m.head.linear.weight for m in models])  # [P, C, F]
    bias = torch.stack([m.head.linear.bias for m in models])  # [P, C]
    return torch.einsum("bpf,pcf->pbc", features, weight) + bias[:, None, :]


def fit_folds(
    models: list[Classifier],
    trains: list[Split],
    devs: list[Split],
    cfg: TrainConfig,
    batches: BatchTransform,
) -> list[TrainResult]:
    """``fit`` each ``models[k]`` on ``trains[k]`` with dev data ``devs[k]``, all at once.

    Every model is trained in place and left at its best dev epoch, as ``fit`` leaves it.
    """
    device = resolve_device(cfg.device)
    configure_cpu(cfg.threads)
    folds = len(models)
    for m in models:
        m.to(device)
    trains = [t.to(device) for t in trains]
    devs = [d.to(device) for d in devs]
    optimizer = make_optimizer([p for m in models for p in m.parameters() if p.requires_grad], cfg)
    dtype = autocast_dtype(cfg.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    averages = [WeightAverage(m, cfg.ema) if cfg.ema > 0 else None for m in models]
    streams = _Streams(folds, cfg.seed, device)
    generators = [torch.Generator().manual_seed(cfg.seed) for _ in range(folds)]
    steps = [steps_per_epoch(len(t), cfg.batch_size, cfg.drop_last) for t in trains]
    p_drop = models[0].head.dropout.p
    best = [(-1.0, 0, None)] * folds
    histories: list[list[dict[str, Any]]] = [[] for _ in range(folds)]
    active = list(range(folds))
    metric = dev_metric(devs[0])
    started = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        epoch_start = time.perf_counter()
        orders = {k: epoch_order(trains[k], generators[k], cfg.batch_size) for k in active}
        on_device = {k: order.to(device) for k, order in orders.items()}
        for k in active:
            models[k].train()
        loss_sum = {k: torch.zeros((), device=device) for k in active}
        correct = {k: torch.zeros((), device=device) for k in active}
        for step in range(max(steps[k] for k in active)):
            live = [k for k in active if step < steps[k]]
            rows, ys, softs, masks = [], [], [], []
            for k in live:
                span = slice(step * cfg.batch_size, (step + 1) * cfg.batch_size)
                idx, width = (
                    on_device[k][span],
                    batch_width(trains[k].lengths[orders[k][span]], device),
                )
                streams.enter(k)
                rows.append(batches.train(trains[k].x[idx, :width]))
                if p_drop:  # nn.Dropout's draw: a Bernoulli mask scaled by 1 / (1 - p)
                    mask = torch.empty(len(idx), models[k].encoder.out_features, device=device)
                    masks.append(mask.bernoulli_(1 - p_drop).div_(1 - p_drop))
                streams.leave(k)
                ys.append(trains[k].y[idx])
                soft = trains[k].soft
                softs.append(soft[idx] if soft is not None else None)
            ids = _pad(rows, max(r.shape[1] for r in rows))
            keep = None
            if p_drop:
                keep = torch.zeros(ids.shape[1], len(live), masks[0].shape[1], device=device)
                for i, mask in enumerate(masks):
                    keep[: len(mask), i] = mask
            group = [models[k] for k in live]
            with tf32(cfg.tf32):
                with autocast(device, dtype):
                    logits = batched_logits(group, batched_features(group, ids), keep)
                losses = [
                    loss_of(logits[i, : len(y)].float(), y, cfg, soft)
                    for i, (y, soft) in enumerate(zip(ys, softs, strict=True))
                ]
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(torch.stack(losses).sum()).backward()
                scaler.step(optimizer)
                scaler.update()
            for i, (k, y) in enumerate(zip(live, ys, strict=True)):
                models[k].head.apply_max_norm()
                if averages[k] is not None:  # a fold's average moves with its own steps
                    averages[k].update()
                loss_sum[k] += losses[i].detach() * len(y)
                correct[k] += hits(logits[i, : len(y)], y)
        seconds = round(time.perf_counter() - epoch_start, 3)
        for k in list(active):
            seen = min(steps[k] * cfg.batch_size, len(trains[k]))
            record: dict[str, Any] = {
                "epoch": epoch,
                "train_loss": round(loss_sum[k].item() / seen, 5),
                "train_accuracy": round(correct[k].item() / seen, 5),
            }
            average = averages[k]
            with average.applied() if average is not None else contextlib.nullcontext():
                record[f"dev_{metric}"] = round(accuracy(models[k], devs[k], batches, cfg), 5)
                if record[f"dev_{metric}"] > best[k][0]:
                    state = copy.deepcopy(models[k].state_dict())
                    best[k] = (record[f"dev_{metric}"], epoch, state)
            record["seconds"] = seconds
            histories[k].append(record)
            if cfg.patience is not None and epoch - best[k][1] >= cfg.patience:
                log.info("fold %d: early stop after epoch %d (best %d)", k + 1, epoch, best[k][1])
                active.remove(k)
        log.info("epoch %d: %d of %d folds still training", epoch, len(active), folds)
        if not active:
            break
    total = time.perf_counter() - started
    results = []
    for k, model in enumerate(models):
        acc, epoch, state = best[k]
        model.load_state_dict(state)
        model.eval()
        results.append(TrainResult(epoch, acc, histories[k], total, metric))
    return results

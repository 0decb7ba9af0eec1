"""Adadelta that also accepts sparse (row) gradients, as ``nn.Embedding(sparse=True)`` makes.

With weight decay 0, a row whose gradient is zero in a step keeps its value and only has
its two accumulators multiplied by ``rho``. So a row untouched for ``k`` steps can catch up
with one multiplication by ``rho**k`` when it is next touched: the parameters follow dense
Adadelta exactly (up to float rounding) while each step costs the touched rows only, instead
of several passes over a whole embedding table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

SPARSE_OPTIMIZERS = ("adadelta",)


def supports_sparse_grads(optimizer: str, weight_decay: float = 0.0) -> bool:
    """Whether ``make_optimizer``'s ``optimizer`` updates sparse gradients lazily and exactly."""
    return optimizer in SPARSE_OPTIMIZERS and weight_decay == 0


class SparseAdadelta(torch.optim.Adadelta):
    """``torch.optim.Adadelta`` for dense gradients; lazy row updates for sparse ones.

    Per sparse parameter the state also holds ``last_step``, the step each row was last
    updated at; ``square_avg`` and ``acc_delta`` of rows untouched since are stale until
    ``flush()`` (which ``state_dict()`` calls) brings them up to date. Sparse gradients with
    weight decay (which touches every row) are densified and updated densely.
    """

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        hidden: list[tuple[nn.Parameter, torch.Tensor]] = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if not p.grad.is_sparse:
                    self._flush_param(p)
                    continue
                if group["weight_decay"] != 0 or group["differentiable"]:
                    self._flush_param(p)
                    p.grad = p.grad.to_dense()
                    continue
                self._sparse_step(p, p.grad, group)
                hidden.append((p, p.grad))
                p.grad = None
        try:
            super().step()
        finally:
            for p, grad in hidden:
                p.grad = grad
        return loss

    def _sparse_step(self, p: torch.Tensor, grad: torch.Tensor, group: dict[str, Any]) -> None:
        lr, rho, eps = group["lr"], group["rho"], group["eps"]
        state = self.state[p]
        if len(state) == 0:
            state["step"] = torch.tensor(0.0, dtype=torch.float32)
            state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["acc_delta"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if "last_step" not in state:
            state["last_step"] = torch.full(
                (p.shape[0],), int(state["step"]), dtype=torch.long, device=p.device
            )
        state["step"] += 1
        step = int(state["step"])
        grad = grad.coalesce()
        rows = grad.indices()[0]
        g = grad.values()
        if group["maximize"]:
            g = -g
        if rows.numel() == 0:
            return
        shape = (-1,) + (1,) * (p.dim() - 1)
        # rho**k for the k steps since each row was last updated, then this step's rho.
        decay = torch.pow(rho, (step - state["last_step"][rows]).to(p.dtype)).view(shape)
        square_avg = state["square_avg"][rows].mul_(decay).addcmul_(g, g, value=1 - rho)
        acc_delta = state["acc_delta"][rows]
        delta = (acc_delta * (decay / rho)).add_(eps).sqrt_().div_(square_avg.add(eps).sqrt_())
        delta.mul_(g)
        acc_delta.mul_(decay).addcmul_(delta, delta, value=1 - rho)
        state["square_avg"][rows] = square_avg
        state["acc_delta"][rows] = acc_delta
        state["last_step"][rows] = step
        p.index_add_(0, rows, delta, alpha=-lr)

    @torch.no_grad()
    def _flush_param(self, p: torch.Tensor) -> None:
        state = self.state.get(p)
        if not state or "last_step" not in state:
            return
        rho = next(g["rho"] for g in self.param_groups if any(q is p for q in g["params"]))
        shape = (-1,) + (1,) * (p.dim() - 1)
        lag = (int(state["step"]) - state.pop("last_step")).to(p.dtype)
        decay = torch.pow(rho, lag).view(shape)
        state["square_avg"].mul_(decay)
        state["acc_delta"].mul_(decay)

    def flush(self) -> None:
        """Bring every row's accumulators up to date (parameters are always up to date)."""
        for group in self.param_groups:
            for p in group["params"]:
                self._flush_param(p)

    def state_dict(self) -> dict[str, Any]:
        self.flush()
        return super().state_dict()

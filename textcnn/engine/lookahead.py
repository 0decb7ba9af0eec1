"""Lookahead as airbench uses it: an exponential moving average of the weights that the
weights are reset to every few steps, with a decay that grows over training.

Every ``every`` optimizer steps the average moves towards the weights by ``1 - decay(step)``
and the weights are then set to the average; floating-point buffers (batch-norm running
statistics) are averaged too. At ``total_steps`` the weights become the average a last
time. With airbench's decay, ``0.95**5 * (step / total)**3``, early training is barely
averaged and the end heavily: the model the schedule's last steps converge to, smoothed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def airbench_decay(total_steps: int) -> Callable[[int], float]:
    """Airbench94's lookahead decay at ``step`` of ``total_steps``."""
    return lambda step: 0.95**5 * (min(step, total_steps) / total_steps) ** 3


class Lookahead:
    """The average of ``model``'s floating-point state, applied after optimizer steps.

    ``attach(optimizer)`` runs ``step()`` after each of its steps.
    """

    def __init__(
        self,
        model: nn.Module,
        total_steps: int,
        every: int = 5,
        decay: Callable[[int], float] | None = None,
    ) -> None:
        if every < 1 or total_steps < 1:
            raise ValueError("lookahead needs every >= 1 and total_steps >= 1")
        self.weights = [t for t in model.state_dict().values() if t.is_floating_point()]
        self.average = [t.detach().clone() for t in self.weights]
        self.total_steps = total_steps
        self.every = every
        self.decay = decay or airbench_decay(total_steps)
        self.steps = 0

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        averaging = self.steps % self.every == 0
        if averaging:
            weight = 1 - self.decay(self.steps)
            for average, current in zip(self.average, self.weights, strict=True):
                average.lerp_(current, weight)
        if averaging or self.steps == self.total_steps:
            for average, current in zip(self.average, self.weights, strict=True):
                current.copy_(average)

    def attach(self, optimizer: torch.optim.Optimizer) -> Lookahead:
        optimizer.register_step_post_hook(lambda *_: self.step())
        return self

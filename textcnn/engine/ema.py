"""An exponential moving average of a model's weights, the network ``fit`` evaluates and keeps
when ``TrainConfig.ema`` is set.

After each optimizer step the average moves towards the weights by ``1 - decay``; frozen
parameters never change, so only trained parameters and floating-point buffers are tracked.
Early in training the decay is capped at ``(1 + step) / (10 + step)`` (as in TensorFlow's
``ExponentialMovingAverage``), so the random initial weights fade out within the first epoch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


class WeightAverage:
    """The moving average of ``model``'s trained state; ``applied()`` swaps it in."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the weight average's decay must be in (0, 1), got {decay}")
        self.decay = decay
        trained = [p for p in model.parameters() if p.requires_grad]
        buffers = [b for b in model.buffers() if b.is_floating_point()]
        self.weights = [t.data for t in [*trained, *buffers]]
        self.average = [t.detach().clone() for t in self.weights]
        self.steps = 0

    @torch.no_grad()
    def update(self) -> None:
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        torch._foreach_lerp_(self.average, self.weights, 1.0 - decay)

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """The model holds the average inside the block, its own weights again after it."""
        with torch.no_grad():
            live = [t.clone() for t in self.weights]
            torch._foreach_copy_(self.weights, self.average)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_(self.weights, live)

    @torch.no_grad()
    def copy_to_model(self) -> None:
        """Leave the model at the average for good (the end of training)."""
        torch._foreach_copy_(self.weights, self.average)

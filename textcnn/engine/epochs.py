"""One fit's epoch bookkeeping, shared by ``fit`` and fold-parallel training: the per-epoch
history, the best dev epoch with a copy of its weights, and the patience rule."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from textcnn.engine.ema import WeightAverage


@dataclass
class TrainResult:
    best_epoch: int
    best_dev_accuracy: float  # the best dev score: ``dev_metric``
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    dev_metric: str = "accuracy"
    compile_seconds: float = 0.0  # with ``compile``: the first step's, which compiles it

    @property
    def seconds_per_epoch(self) -> float:
        return self.seconds / max(1, len(self.history))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds_per_epoch": self.seconds_per_epoch}


class EpochLog:
    """The records of a fit's epochs, and its best dev epoch so far with that epoch's weights.

    ``patience``: epochs in a row without a better dev score after which training stops
    (``None``: never early).
    """

    def __init__(self, patience: int | None) -> None:
        self.patience = patience
        self.history: list[dict[str, Any]] = []
        self.best_score, self.best_epoch = -1.0, 0
        self.best_state: dict[str, Any] | None = None

    def scored(self, model: nn.Module, epoch: int, score: float) -> None:
        """Note ``epoch``'s dev ``score``, and copy ``model``'s weights when it beats every
        earlier epoch's (a tie keeps the earlier epoch)."""
        if score > self.best_score:
            self.best_score, self.best_epoch = score, epoch
            self.best_state = copy.deepcopy(model.state_dict())

    def out_of_patience(self, epoch: int) -> bool:
        """Whether ``patience`` epochs have passed since the best one, by ``epoch``."""
        return self.patience is not None and epoch - self.best_epoch >= self.patience

    def result(
        self,
        model: nn.Module,
        average: WeightAverage | None,
        epochs: int,
        seconds: float,
        metric: str,
        compile_seconds: float = 0.0,
    ) -> TrainResult:
        """Leave ``model`` (in eval mode) at the best epoch's weights; with no dev score, at the
        last epoch's (its ``average``'s, if any), ``epochs`` then the best epoch and NaN its
        score."""
        best_epoch, best_score = self.best_epoch, self.best_score
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        else:
            if average is not None:
                average.copy_to_model()
            best_epoch, best_score = epochs, float("nan")
        model.eval()
        return TrainResult(
            best_epoch, best_score, self.history, seconds, metric, round(compile_seconds, 3)
        )

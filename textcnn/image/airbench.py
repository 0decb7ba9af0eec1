"""The airbench94 recipe (Keller Jordan, 2024: CIFAR-10 to 94% in 3.8 s on an A100) on this
engine: the registry's ``airbench`` net trained by ``train_image`` and ``fit``.

What it adds to the default image recipe: the net's whitened first layer (fitted to the
training images by ``train_image``), SGD-Nesterov with airbench's decoupled
hyperparameters, batch-norm biases at 64x the learning rate, the whitening bias trained for
the first 3 epochs only, a linear warm-up to 23% of training then a linear decay,
``Lookahead`` every 5 steps, label smoothing 0.2, random flips and 2-pixel translations,
and flip + translate test-time augmentation (``forward_logits``'s level 2). Left out: the
alternating flip (every other epoch mirrors the whole set) and fp16 weights (the trainer
uses bf16 autocast on CUDA).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import nn

from textcnn.engine.config import TrainConfig
from textcnn.engine.lookahead import Lookahead
from textcnn.engine.trainer import OptimizerFactory
from textcnn.image.options import ImageTrainOptions
from textcnn.models.blocks import whitening_layers

TTA = 2  # mirror and one-pixel translations: six views an image


@dataclass
class AirbenchRecipe:
    """Airbench94's hyperparameters, in its decoupled units (per 1024 examples, the step size
    independent of momentum, weight decay independent of the learning rate)."""

    epochs: int = 10  # airbench: 9.9
    batch_size: int = 1024
    lr: float = 11.5
    momentum: float = 0.85
    weight_decay: float = 0.0153
    bias_scale: float = 64.0
    label_smoothing: float = 0.2
    whiten_bias_epochs: int = 3
    warmup: float = 0.23
    start: float = 0.2
    end: float = 0.07
    lookahead_every: int = 5
    translate: int = 2
    width: int = 64

    def sgd_lr(self) -> float:
        """torch SGD's learning rate for a mean (not summed) batch loss."""
        return self.lr * self.batch_size / (1024 * (1 + 1 / (1 - self.momentum)))

    def sgd_weight_decay(self) -> float:
        """torch SGD's weight decay at ``sgd_lr``: the decay per step is airbench's."""
        return self.weight_decay / self.lr

    def options(self, **train: object) -> ImageTrainOptions:
        """``train_image`` options; ``train`` overrides ``TrainConfig`` fields (device,
        threads, seed, epochs...)."""
        cfg = TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            optimizer="sgd",
            lr=self.sgd_lr(),
            momentum=self.momentum,
            weight_decay=self.sgd_weight_decay(),
            label_smoothing=self.label_smoothing,
            progress=False,
        )
        return ImageTrainOptions(
            arch="airbench",
            width=self.width,
            crop_padding=self.translate,
            train=replace(cfg, **train),
        )

    def schedule(self, total_steps: int) -> Callable[[int], float]:
        """The learning-rate factor at each step: 0.2 -> 1 linearly over the first 23% of
        steps, then down to 0.07."""
        warmup = max(1, int(total_steps * self.warmup))

        def factor(step: int) -> float:
            if step < warmup:
                return self.start + (1 - self.start) * step / warmup
            frac = (step - warmup) / max(1, total_steps - warmup)
            return 1 + (self.end - 1) * min(frac, 1.0)

        return factor

    def optimizer_factory(self) -> OptimizerFactory:
        """``fit``'s optimiser: three groups (batch-norm biases, the whitening bias, the rest)
        under the schedule, the whitening bias frozen after ``whiten_bias_epochs``, and
        ``Lookahead`` attached."""

        def build(
            model: nn.Module, cfg: TrainConfig, total_steps: int
        ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
            whiten = {id(layer.bias) for layer in whitening_layers(model)}
            norms = {
                id(p)
                for m in model.modules()
                if isinstance(m, nn.BatchNorm2d)
                for p in m.parameters()
            }
            groups: dict[str, list[nn.Parameter]] = {"norm": [], "whiten": [], "other": []}
            for p in model.parameters():
                if p.requires_grad:
                    key = "whiten" if id(p) in whiten else "norm" if id(p) in norms else "other"
                    groups[key].append(p)
            lr, decay = cfg.lr or self.sgd_lr(), cfg.weight_decay
            bias = {"lr": lr * self.bias_scale, "weight_decay": decay / self.bias_scale}
            optimizer = torch.optim.SGD(
                [
                    {"params": groups["norm"], **bias},
                    {"params": groups["whiten"], **bias},
                    {"params": groups["other"], "lr": lr, "weight_decay": decay},
                ],
                momentum=cfg.momentum,
                nesterov=True,
            )
            factor = self.schedule(total_steps)
            frozen_after = total_steps * self.whiten_bias_epochs // cfg.epochs

            def whiten_factor(step: int) -> float:
                return factor(step) if step < frozen_after else 0.0

            scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer, [factor, whiten_factor, factor]
            )
            Lookahead(model, total_steps, self.lookahead_every).attach(optimizer)
            return optimizer, scheduler

        return build

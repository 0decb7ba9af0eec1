"""Training settings as dataclasses whose fields carry their command-line help.

``option(default, help)`` declares a field the CLI offers as a flag: its default and help are
written once, here, and ``textcnn.cli.options`` builds the argparse arguments from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OPTIMIZERS = ("adadelta", "adam", "adamw", "sgd")
SCHEDULES = ("constant", "onecycle")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")


def option(
    default: Any,
    help: str = "",
    *,
    flag: str | None = None,
    group: str | None = None,
    **argparse: Any,
) -> Any:
    """A dataclass field offered on the command line.

    ``flag`` names it when ``--field-name`` does not fit (``--no-tf32`` for ``tf32=True``: a
    boolean flag sets the opposite of its default); ``group`` is its help section;
    ``argparse`` passes ``choices`` or ``metavar``, or ``type`` as a name the CLI knows
    (``"fraction"``).
    """
    metadata = {"help": help, "flag": flag, "group": group, "argparse": argparse}
    return field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """How ``fit`` trains a model (optimiser, schedule, devices), whatever the modality."""

    epochs: int = option(25, "passes over the data")
    batch_size: int = option(50, "examples per step")
    optimizer: str = option("adadelta", "optimiser", choices=OPTIMIZERS)
    lr: float | None = option(None, "learning rate (default: the optimizer's usual)")
    weight_decay: float = option(0.0, "L2 penalty")
    momentum: float = 0.9
    schedule: str = option("constant", "learning-rate schedule", choices=SCHEDULES)
    label_smoothing: float = option(0.0, "cross-entropy label smoothing")
    ema: float = option(
        0.0,
        "evaluate and keep a moving average of the weights with this decay per step, e.g. "
        "0.99 (0: off)",
    )
    distill_weight: float = option(
        1.0, "with a teacher: weight of its soft labels against the true ones (0-1)"
    )
    seed: int = option(0, "makes CPU runs repeatable")
    device: str = option("auto", "auto, cpu, cuda or cuda:N")
    precision: str = option(
        "auto",
        "training steps' autocast: auto (bf16 on a CUDA GPU that has it, else fp16 with loss "
        "scaling; fp32 on the CPU), or bf16, fp16 or fp32 on any device; evaluation is fp32",
        choices=PRECISIONS,
    )
    tf32: bool = option(True, "no TF32 matrix products and convolutions on CUDA", flag="--no-tf32")
    threads: int | None = option(None, "CPU threads (default: torch's choice)")
    compile: bool = option(False, "torch.compile the model")
    progress: bool = option(True, "no progress bars", flag="--no-progress")
    eval_batch_size: int = 1000
    channels_last: bool = False
    drop_last: bool = False
    tta: bool = False
    patience: int | None = option(
        None, "stop after N epochs without a better dev accuracy (0: run every epoch)"
    )

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; one of {OPTIMIZERS}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; one of {PRECISIONS}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; constant or onecycle")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch size must be at least 1")
        if not 0.0 <= self.distill_weight <= 1.0:
            raise ValueError(f"distill weight must be in [0, 1], got {self.distill_weight}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"the weight average's decay must be in [0, 1), got {self.ema}")
        if self.patience is not None and self.patience <= 0:
            self.patience = None

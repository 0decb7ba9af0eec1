"""Options shared by several commands: training schedule, devices, model sources, output."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from textcnn.engine.bundle import Bundle
from textcnn.engine.predictor import Predictor
from textcnn.engine.trainer import OPTIMIZERS, TrainConfig


def add_train_options(
    p: argparse.ArgumentParser, epochs: int, batch_size: int, optimizer: str = "adadelta"
) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=epochs, help="passes over the data (%(default)s)")
    g.add_argument("--batch-size", type=int, default=batch_size, help="(%(default)s)")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=optimizer, help="(%(default)s)")
    g.add_argument("--lr", type=float, help="learning rate (default: the optimizer's usual)")
    g.add_argument("--weight-decay", type=float, default=0.0)
    g.add_argument("--label-smoothing", type=float, default=0.0)
    g.add_argument("--schedule", choices=["constant", "onecycle"], default="constant")
    g.add_argument("--seed", type=int, default=0, help="makes CPU runs repeatable (%(default)s)")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (%(default)s)")
    g.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")
    g.add_argument("--no-amp", action="store_true", help="no bf16 autocast on CUDA")
    g.add_argument("--compile", action="store_true", help="torch.compile the model")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")


def train_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        schedule=args.schedule,
        seed=args.seed,
        device=args.device,
        amp=not args.no_amp,
        threads=args.threads,
        compile=args.compile,
        progress=not args.no_progress,
    )


def add_output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="bundle directory to write")


def write_output(bundle: Bundle, args: argparse.Namespace) -> Path:
    """Write the trained bundle where the user asked; returns its directory."""
    return bundle.save_atomic(args.out)


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, help="a bundle directory")
    p.add_argument("--device", default="cpu", help="(%(default)s)")


def load_predictor(args: argparse.Namespace) -> Predictor:
    return Predictor.load(args.model, device=args.device)


def print_json(obj: Any, indent: int | None = 2) -> None:
    print(json.dumps(obj, indent=indent, ensure_ascii=False))

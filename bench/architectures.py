"""Every registered image architecture, trained the same way on a CIFAR-10 subset: one table.

Each architecture trains with ``textcnn train-image``'s default recipe (SGD-Nesterov on a
one-cycle schedule, label smoothing 0.2, random crops and flips, flip test-time
augmentation), the learning rate scaled linearly from 0.2 at batch 512 to ``--batch-size``,
with the same data, epochs, seeds and threads. Per architecture it reports:

- parameters, and multiply-adds per image of one forward pass, counted by
  ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products; half its
  FLOPs);
- training images/s (``fit``'s wall time), the median over the seeds;
- inference images/s on the CPU at batch 1 and 64 (eval mode, no test-time augmentation),
  the median of ``--repeats`` runs interleaved across the architectures;
- test accuracy (flip test-time augmentation), the median over the seeds (runs interleaved:
  every architecture's seed 0, then seed 1...).

    python -m bench.architectures                        # 10k / 2k images at 32 px, 2 threads
    python -m bench.architectures --device cuda --train-limit 0 --test-limit 0   # full set
    python -m bench.architectures --widths alexnet=16,vgg=16 --archs lenet5,alexnet,vgg

``--widths`` sets an architecture's width (default: its own); rows come in the order the
architectures appeared (unknown ones last).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.cifar10 import DEFAULT_DATA, limited
from bench.jsonout import command, json_out, write_json
from textcnn.engine.device import configure_cpu
from textcnn.image.data import read_image_dataset
from textcnn.image.options import ImageTrainOptions, default_train_config
from textcnn.image.train import train_image
from textcnn.models import create_model, list_models

HISTORY = (
    "lenet5",
    "alexnet",
    "vgg",
    "nin",
    "inception",
    "alexnet_bn",
    "resnet",
    "densenet",
    "airbench",
)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="archive with train/, test/")
    p.add_argument("--archs", help="comma-separated (default: every registered image one)")
    p.add_argument("--widths", default="", help="name=width,... (default: each one's own)")
    p.add_argument("--train-limit", type=int, default=10_000, help="0: all")
    p.add_argument("--test-limit", type=int, default=2_000, help="0: all")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--repeats", type=int, default=3, help="inference timing runs")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json-out", **json_out("architectures"))
    return p.parse_args()


def architectures(names: str | None) -> list[str]:
    registered = list_models("image")
    if names:
        unknown = sorted(set(names.split(",")) - set(registered))
        if unknown:
            raise SystemExit(f"unknown architectures {unknown}; registered: {registered}")
        registered = names.split(",")
    order = {name: i for i, name in enumerate(HISTORY)}
    return sorted(registered, key=lambda name: (order.get(name, len(order)), name))


def multiply_adds(model: torch.nn.Module, size: int) -> int:
    """Multiply-adds of one image's forward pass (FlopCounterMode counts two FLOPs each)."""
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, size, size))
    return counter.get_total_flops() // 2


@torch.inference_mode()
def images_per_second(model: torch.nn.Module, batch: int, size: int, seconds: float) -> float:
    """Eval-mode forward passes of ``batch`` random images for about ``seconds``."""
    model.eval()
    x = torch.randn(batch, 3, size, size)
    started = time.perf_counter()
    while time.perf_counter() - started < seconds / 4:  # warm-up: allocator, kernels
        model(x)
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds or done == 0:
        model(x)
        done += batch
    return done / elapsed


def options(arch: str, width: int | None, args: argparse.Namespace, seed: int) -> ImageTrainOptions:
    recipe = default_train_config()
    train = replace(
        recipe,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=recipe.lr * args.batch_size / recipe.batch_size,
        seed=seed,
        device=args.device,
        threads=args.threads,
        progress=False,
    )
    return ImageTrainOptions(arch=arch, width=width, size=args.size, train=train)


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    configure_cpu(args.threads)
    archs = architectures(args.archs)
    widths = {k: int(v) for k, v in (item.split("=") for item in args.widths.split(",") if item)}
    seeds = [int(s) for s in args.seeds.split(",")]
    train = limited(read_image_dataset(args.data / "train"), args.train_limit or None)
    test = limited(read_image_dataset(args.data / "test"), args.test_limit or None)
    rows: dict[str, dict[str, Any]] = {}
    for arch in archs:
        model = create_model(arch, options(arch, widths.get(arch), args, 0).model_config(10))
        rows[arch] = {
            "arch": arch,
            "width": model_width(arch, widths.get(arch), args),
            "params": sum(p.numel() for p in model.parameters()),
            "multiply_adds": multiply_adds(model, args.size),
            "seeds": seeds,
            "accuracy": [],  # per seed, as are the training images/s
            "train_images_per_s": [],
            "batch1_images_per_s": [],
            "batch64_images_per_s": [],
        }
    for seed in seeds:
        for arch in archs:
            opts = options(arch, widths.get(arch), args, seed)
            bundle = train_image(train, opts, test=test)
            result = bundle.training["result"]
            images = opts.train.epochs * (len(train) // opts.train.batch_size) * args.batch_size
            rows[arch]["accuracy"].append(bundle.metrics["test_accuracy"])
            rows[arch]["train_images_per_s"].append(images / result["seconds"])
            print(
                f"seed {seed} {arch}: {bundle.metrics['test_accuracy']:.4f} test accuracy, "
                f"{result['seconds']:.0f} s",
                flush=True,
            )
    for _ in range(args.repeats):
        for arch in archs:
            model = create_model(arch, options(arch, widths.get(arch), args, 0).model_config(10))
            rows[arch]["batch1_images_per_s"].append(images_per_second(model, 1, args.size, 1.0))
            rows[arch]["batch64_images_per_s"].append(images_per_second(model, 64, args.size, 2.0))
    print_table(rows, args, len(train), len(test))
    report = {"command": command("bench.architectures"), "args": vars(args)}
    write_json(args.json_out, {**report, "rows": list(rows.values())})


def model_width(arch: str, width: int | None, args: argparse.Namespace) -> int:
    return options(arch, width, args, 0).model_config(10).width


def print_table(
    rows: dict[str, dict[str, Any]], args: argparse.Namespace, n_train: int, n_test: int
) -> None:
    median = statistics.median
    print(
        f"\nCIFAR-10, {n_train} training / {n_test} test images at {args.size} px, "
        f"{args.epochs} epochs, batch {args.batch_size}, {args.threads} threads on "
        f"{args.device}, seeds {args.seeds}\n"
    )
    print(
        "| Architecture | width | params | multiply-adds / image | train img/s | "
        "infer img/s, batch 1 | infer img/s, batch 64 | test accuracy % (median; range) |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    for row in rows.values():
        acc = [100 * a for a in row["accuracy"]]
        print(
            f"| {row['arch']} | {row['width']} | {row['params'] / 1e6:.2f} M | "
            f"{row['multiply_adds'] / 1e6:.1f} M | {median(row['train_images_per_s']):.0f} | "
            f"{median(row['batch1_images_per_s']):.0f} | "
            f"{median(row['batch64_images_per_s']):.0f} | "
            f"{median(acc):.1f} ({min(acc):.1f}-{max(acc):.1f}) |"
        )


if __name__ == "__main__":
    main()

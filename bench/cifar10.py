"""CIFAR-10 test accuracy against training wall time, through ``textcnn train-image``'s code.

The anchor is airbench94: 94.0% in 3.1-3.8 s on one A100. The target on one H100 is 94% in
at most 15 s of training (``--device cuda``); on the CPU the question is the accuracy reached
within a budget of training time:

    python bench/cifar10.py --device cuda                      # GPU recipe, fixed epochs
    python bench/cifar10.py --device cpu --threads 2 --time-budget 600 --width 16

``--time-budget`` times a few training steps first and picks the number of epochs that fits
(the one-cycle schedule needs it in advance). Decoding is cached (``$TEXTCNN_CACHE``) and,
like the test evaluation, not counted: "seconds" is ``fit``'s training wall time, with
``--compile`` the compilation too, which "compile_seconds" reports apart (the first step)
and ``--time-budget`` leaves out.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from textcnn.engine.device import resolve_device  # noqa: E402
from textcnn.engine.trainer import Split, TrainConfig, fit  # noqa: E402
from textcnn.image.augment import ImageTransform  # noqa: E402
from textcnn.image.data import ImageDataset, read_image_dataset  # noqa: E402
from textcnn.image.processor import ImageProcessor  # noqa: E402
from textcnn.image.train import ImageTrainOptions, train_image  # noqa: E402
from textcnn.models import create_model  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "images" / "cifar10-jpg.tar.gz"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="archive with train/, test/")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, help="CPU threads")
    p.add_argument("--arch", default="resnet")
    p.add_argument("--width", type=int, help="(default: the architecture's; ResNet-9: 64)")
    p.add_argument("--depth", help="e.g. 1,0,1")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--time-budget", type=float, help="seconds of training: sets --epochs")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--optimizer", default="sgd")
    p.add_argument("--lr", type=float, default=0.2)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.2)
    p.add_argument("--cutout", type=int, default=0)
    p.add_argument("--no-tta", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--train-limit", type=int, help="train on the first N images (smoke runs)")
    p.add_argument("--test-limit", type=int, help="test on the first N images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the result here")
    return p.parse_args()


def limited(data: ImageDataset, limit: int | None) -> ImageDataset:
    if limit is None or limit >= len(data):
        return data
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
    return data.subset(sorted(order[:limit].tolist()))


def seconds_per_step(opts: ImageTrainOptions, train: ImageDataset, probe: int = 6) -> float:
    """Training seconds a step, from ``probe`` steps of a throwaway model (after one more to
    warm up)."""
    processor = ImageProcessor(32)
    pixels = processor.pixels(train.items[: opts.train.batch_size * (probe + 1)])
    split = Split(pixels, torch.zeros(len(pixels), dtype=torch.long))
    model = create_model(opts.arch, opts.model_config(10))
    cfg = replace(opts.train, epochs=1, progress=False, drop_last=True, channels_last=True)
    transform = ImageTransform(processor, channels_last=True)
    logging.disable(logging.INFO)  # the probe's epochs are not the benchmark's
    last = [fit(model, split, None, cfg, transform) for _ in range(2)][-1]
    logging.disable(logging.NOTSET)
    # with --compile the first step compiles: its time is the budget's, not a step's
    return (last.seconds - last.compile_seconds) / (probe + 1 - bool(cfg.compile))


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.perf_counter()
    train = limited(read_image_dataset(args.data / "train"), args.train_limit)
    test = limited(read_image_dataset(args.data / "test"), args.test_limit)
    load_seconds = time.perf_counter() - started
    cfg = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        weight_decay=args.weight_decay,
        schedule="onecycle",
        label_smoothing=args.label_smoothing,
        seed=args.seed,
        device=args.device,
        threads=args.threads,
        compile=args.compile,
        progress=False,
    )
    depth = tuple(int(d) for d in args.depth.split(",")) if args.depth else None
    opts = ImageTrainOptions(
        arch=args.arch,
        width=args.width,
        depth=depth,
        cutout=args.cutout,
        tta=not args.no_tta,
        train=cfg,
    )
    if args.time_budget:
        step = seconds_per_step(opts, train)
        epochs = max(1, math.floor(args.time_budget / (step * (len(train) // cfg.batch_size))))
        logging.info("%.3f s a step: %d epochs fit in %.0f s", step, epochs, args.time_budget)
        opts.train = replace(cfg, epochs=epochs)
    bundle = train_image(train, opts, test=test)
    result = bundle.training["result"]
    row = {
        "device": str(resolve_device(args.device)),
        "threads": torch.get_num_threads(),
        "arch": args.arch,
        "width": bundle.model_config.width,
        "depth": list(getattr(bundle.model_config, "depth", [])),
        "train": len(train),
        "test": len(test),
        "epochs": len(result["history"]),
        "seconds": round(result["seconds"], 2),
        "compile_seconds": result.get("compile_seconds", 0.0),
        "test_accuracy": round(bundle.metrics["test_accuracy"], 4),
        "load_seconds": round(load_seconds, 1),
        "history": result["history"],
    }
    columns = ["device", "threads", "arch", "width", "epochs", "seconds", "test_accuracy"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    print("| " + " | ".join(str(row[c]) for c in columns) + " |")
    if args.json:
        args.json.write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""CIFAR-10 test accuracy against training wall time, through ``textcnn train-image``'s code.

The anchor is airbench94: 94.0% in 3.1-3.8 s on one A100. The target on one H100 is 94% in
at most 15 s (``--device cuda``); on the CPU the question is the accuracy reached within a
budget of training time. Two recipes, both trained by ``train_image`` and ``fit``:

- ``default``: ``textcnn train-image``'s ResNet-9, SGD-Nesterov on a one-cycle schedule,
  flip test-time augmentation;
- ``airbench``: airbench94's net and recipe (``textcnn.image.airbench``): whitened first
  layer, lookahead, label smoothing, flip + translate test-time augmentation.

    python -m bench.cifar10 --recipe airbench --device cuda --json-out cifar10.json
    python -m bench.cifar10 --device cpu --threads 2 --time-budget 600 --width 16
    python -m bench.cifar10 --recipe airbench --device cpu --threads 2 --train-limit 2000 \\
        --test-limit 1000 --epochs 2                                          # a smoke run

``--time-budget`` times a few training steps first and picks the number of epochs that fits
(both schedules need it in advance). Decoding is cached (``$TEXTCNN_CACHE``) and not
counted: "seconds" is the wall time from decoded images to test accuracy (statistics,
whitening, training, the test-time-augmented evaluation); "train_seconds" is ``fit``'s,
with ``--compile`` the compilation too, which "compile_seconds" reports apart (the first
step) and ``--time-budget`` leaves out.
``--warmup`` runs that probe before the timed run even without a budget (cuDNN autotuning
and CUDA start-up out of the timing, as airbench's runs leave them out). ``--json-out`` (default
``bench/results/cifar10.json``) writes the result, with at least recipe, seed, seconds, accuracy,
epochs, device and the per-epoch history.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from dataclasses import replace
from pathlib import Path

import torch

from bench import DATA_ROOT
from bench.jsonout import command, json_out, write_json
from textcnn.engine.config import TrainConfig
from textcnn.engine.device import resolve_device
from textcnn.engine.trainer import OptimizerFactory, Split, fit, predict_logits
from textcnn.image.airbench import TTA, AirbenchRecipe
from textcnn.image.augment import ImageTransform
from textcnn.image.data import ImageDataset, read_image_dataset
from textcnn.image.options import ImageTrainOptions
from textcnn.image.processor import ImageProcessor
from textcnn.image.train import train_image
from textcnn.models import create_model

DEFAULT_DATA = DATA_ROOT / "images" / "cifar10-jpg.tar.gz"
RECIPES = ("default", "airbench")
# The default recipe's values of the flags that the airbench recipe sets otherwise.
DEFAULTS = {
    "epochs": 12,
    "batch_size": 512,
    "lr": 0.2,
    "weight_decay": 5e-4,
    "label_smoothing": 0.2,
    "width": None,
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="archive with train/, test/")
    p.add_argument("--recipe", choices=RECIPES, default="default")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, help="CPU threads")
    p.add_argument("--arch", default="resnet", help="(default recipe)")
    p.add_argument("--width", type=int, help="(default: the architecture's; ResNet-9: 64)")
    p.add_argument("--depth", help="e.g. 1,0,1 (default recipe)")
    p.add_argument("--epochs", type=int, help="(default: 12; airbench: 10)")
    p.add_argument("--time-budget", type=float, help="seconds of training: sets --epochs")
    p.add_argument("--batch-size", type=int, help="(default: 512; airbench: 1024)")
    p.add_argument("--optimizer", default="sgd", help="(default recipe)")
    p.add_argument("--lr", type=float, help="(default: 0.2; airbench: its own)")
    p.add_argument("--weight-decay", type=float, help="(default: 5e-4; airbench: its own)")
    p.add_argument("--label-smoothing", type=float, help="(default: 0.2; airbench: 0.2)")
    p.add_argument("--cutout", type=int, default=0, help="(default recipe)")
    p.add_argument("--no-tta", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument(
        "--warmup", action="store_true", help="train a few untimed steps first (GPU autotuning)"
    )
    p.add_argument("--train-limit", type=int, help="train on N random images (smoke runs)")
    p.add_argument("--test-limit", type=int, help="test on N random images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json-out", **json_out("cifar10"))
    return p.parse_args()


def limited(data: ImageDataset, limit: int | None) -> ImageDataset:
    if limit is None or limit >= len(data):
        return data
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
    return data.subset(sorted(order[:limit].tolist()))


def default_options(args: argparse.Namespace) -> ImageTrainOptions:
    given = {k: getattr(args, k) for k in DEFAULTS}
    values = {k: DEFAULTS[k] if v is None else v for k, v in given.items()}
    cfg = TrainConfig(
        epochs=values["epochs"],
        batch_size=values["batch_size"],
        optimizer=args.optimizer,
        lr=values["lr"],
        weight_decay=values["weight_decay"],
        schedule="onecycle",
        label_smoothing=values["label_smoothing"],
        seed=args.seed,
        device=args.device,
        threads=args.threads,
        compile=args.compile,
        progress=False,
    )
    depth = tuple(int(d) for d in args.depth.split(",")) if args.depth else None
    return ImageTrainOptions(
        arch=args.arch,
        width=values["width"],
        depth=depth,
        cutout=args.cutout,
        tta=not args.no_tta,
        train=cfg,
    )


def airbench_options(args: argparse.Namespace) -> tuple[ImageTrainOptions, OptimizerFactory]:
    given = {k: getattr(args, k) for k in ("epochs", "batch_size", "width")}
    recipe = AirbenchRecipe(**{k: v for k, v in given.items() if v is not None})
    train = {"lr": args.lr, "weight_decay": args.weight_decay}
    train = {k: v for k, v in train.items() if v is not None}
    if args.label_smoothing is not None:
        train["label_smoothing"] = args.label_smoothing
    opts = recipe.options(
        seed=args.seed, device=args.device, threads=args.threads, compile=args.compile, **train
    )
    opts.tta = not args.no_tta
    return opts, recipe.optimizer_factory()


def seconds_per_step(
    opts: ImageTrainOptions,
    train: ImageDataset,
    factory: OptimizerFactory | None,
    probe: int = 6,
) -> float:
    """Training seconds a step, from ``probe`` steps of a throwaway model (after one more to
    warm up)."""
    processor = ImageProcessor(32)
    pixels = processor.pixels(train.items[: opts.train.batch_size * (probe + 1)])
    split = Split(pixels, torch.zeros(len(pixels), dtype=torch.long))
    model = create_model(opts.arch, opts.model_config(10))
    cfg = replace(opts.train, epochs=1, progress=False, drop_last=True, channels_last=True)
    transform = ImageTransform(processor, opts.crop_padding, opts.flip, channels_last=True)
    logging.disable(logging.INFO)  # the probe's epochs are not the benchmark's
    last = [fit(model, split, None, cfg, transform, None, factory) for _ in range(2)][-1]
    logging.disable(logging.NOTSET)
    # with --compile the first step compiles: its time is the budget's, not a step's
    return (last.seconds - last.compile_seconds) / (probe + 1 - bool(cfg.compile))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.perf_counter()
    train = limited(read_image_dataset(args.data / "train"), args.train_limit)
    test = limited(read_image_dataset(args.data / "test"), args.test_limit)
    load_seconds = time.perf_counter() - started
    factory = None
    if args.recipe == "airbench":
        opts, factory = airbench_options(args)
    else:
        opts = default_options(args)
    tta = (TTA if args.recipe == "airbench" else 1) if opts.tta else 0
    if args.warmup and not args.time_budget:
        seconds_per_step(opts, train, factory)
    if args.time_budget:
        step = seconds_per_step(opts, train, factory)
        steps = len(train) // opts.train.batch_size
        epochs = max(1, math.floor(args.time_budget / (step * steps)))
        logging.info("%.3f s a step: %d epochs fit in %.0f s", step, epochs, args.time_budget)
        opts.train = replace(opts.train, epochs=epochs)
    device = resolve_device(args.device)
    synchronize(device)
    started = time.perf_counter()
    bundle = train_image(train, opts, optimizer_factory=factory)
    model = bundle.model.to(device).to(memory_format=torch.channels_last)
    transform = ImageTransform(bundle.processor, channels_last=True)
    pixels = bundle.processor.pixels(test.items).to(device)
    labels = torch.tensor([bundle.labels.index(label) for label in test.labels])
    logits = predict_logits(model, pixels, transform, tta=tta)
    accuracy = (logits.argmax(1).cpu() == labels).float().mean().item()
    synchronize(device)
    seconds = time.perf_counter() - started
    result = bundle.training["result"]
    row = {
        "command": command("bench.cifar10"),
        "recipe": args.recipe,
        "seed": args.seed,
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "arch": opts.arch,
        "width": bundle.model_config.width,
        "depth": list(getattr(bundle.model_config, "depth", [])),
        "train": len(train),
        "test": len(test),
        "epochs": len(result["history"]),
        "tta": tta,
        "seconds": round(seconds, 2),
        "train_seconds": round(result["seconds"], 2),
        "accuracy": round(accuracy, 4),
        "compile_seconds": result.get("compile_seconds", 0.0),
        "load_seconds": round(load_seconds, 1),
        "history": result["history"],
    }
    columns = ["recipe", "device", "threads", "arch", "width", "epochs", "seconds", "accuracy"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    print("| " + " | ".join(str(row[c]) for c in columns) + " |")
    write_json(args.json_out, row)


if __name__ == "__main__":
    main()

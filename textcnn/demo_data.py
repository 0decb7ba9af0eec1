"""The demo image set: scikit-learn's bundled handwritten digits written as PNG folders.

``load_digits`` ships inside scikit-learn (1,797 8x8 greyscale scans of the digits 0-9, from
the UCI "Optical Recognition of Handwritten Digits" set), so nothing is downloaded. The
images are written as ``<out>/{train,test}/<digit>/<n>.png``, the layout ``textcnn
train-image --data <out>`` reads (it uses ``train/``, and ``test/`` for the final
evaluation), upscaled to ``--side`` pixels, dark ink on white like a scan::

    python -m textcnn.demo_data --out .cache/demo-digits
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

DONE = "digits.json"


def write_digits(
    out: Path, side: int = 32, test_fraction: float = 0.2, seed: int = 0, force: bool = False
) -> dict[str, int]:
    """Write the digits under ``out`` (replaced atomically); returns the image counts.

    Does nothing when ``out`` already holds a complete set written with the same settings.
    """
    settings = {"side": side, "test_fraction": test_fraction, "seed": seed}
    marker = out / DONE
    if not force and marker.is_file():
        done = json.loads(marker.read_text(encoding="utf-8"))
        if done.get("settings") == settings:
            return done["counts"]
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = 255 - np.rint(digits.images * (255 / 16)).astype(np.uint8)  # 0..16 ink -> 8-bit
    index = np.arange(len(pixels))
    train, test = train_test_split(
        index, test_size=test_fraction, random_state=seed, stratify=digits.target
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    counts = {}
    for split, indices in (("train", train), ("test", test)):
        for i in indices:
            folder = tmp / split / str(digits.target[i])
            folder.mkdir(parents=True, exist_ok=True)
            image = Image.fromarray(pixels[i]).resize((side, side), Image.Resampling.BICUBIC)
            image.save(folder / f"{i:04d}.png")
        counts[split] = len(indices)
    (tmp / DONE).write_text(json.dumps({"settings": settings, "counts": counts}) + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m textcnn.demo_data", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--out", type=Path, default=Path(".cache/demo-digits"), help="(%(default)s)")
    p.add_argument("--side", type=int, default=32, help="image side in pixels (%(default)s)")
    p.add_argument("--test-fraction", type=float, default=0.2, help="(%(default)s)")
    p.add_argument("--seed", type=int, default=0, help="(%(default)s)")
    p.add_argument("--force", action="store_true", help="rewrite even if already there")
    args = p.parse_args(argv)
    counts = write_digits(args.out, args.side, args.test_fraction, args.seed, args.force)
    print(json.dumps({"out": str(args.out), **counts}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""K-fold CV wall time, folds trained one by one against side by side (``--cv-parallel``).

Both run the same folds, recipe and epochs (early stopping off, so both do the same work),
interleaved, ``--repeats`` times; the table shows the median of the fit's wall time (data
reading, vectors and test evaluation excluded) and the mean fold accuracy:

    python -m bench.cv_speed --threads 2 --epochs 2            # MR, the default recipe
    python -m bench.cv_speed --recipe kim2014 --device cuda    # Kim's protocol on a GPU
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
from dataclasses import replace
from pathlib import Path

from bench import DATA_ROOT
from bench.jsonout import command, json_out, write_json
from textcnn.engine.device import configure_cpu
from textcnn.text.data import read_text_dataset
from textcnn.text.recipes import recipe_options
from textcnn.text.train import cross_validate, vectors_for

DEFAULT_DATA = DATA_ROOT / "text" / "rt-polarity.all"


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="label-text file (MR)")
    p.add_argument("--recipe", default="default", choices=("default", "kim2014"))
    p.add_argument("--mode", help="override the recipe's embedding mode")
    p.add_argument("--folds", type=int, default=10)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int)
    p.add_argument("--device", default="auto")
    p.add_argument("--json-out", **json_out("cv_speed"))
    args = p.parse_args()
    if not args.data.exists():
        sys.exit(f"{args.data} not found: pass --data (MR's rt-polarity.all)")
    configure_cpu(args.threads)
    opts = recipe_options(args.recipe)
    if args.mode:
        opts = replace(opts, mode=args.mode)
    train = replace(opts.train, epochs=args.epochs, patience=None, progress=False)
    opts = replace(opts, train=replace(train, device=args.device, threads=args.threads))
    data = read_text_dataset(args.data)
    vectors = vectors_for(opts)
    runs: dict[bool, list[dict]] = {False: [], True: []}
    for _ in range(args.repeats):
        for parallel in (False, True):
            cv = cross_validate(data, opts, args.folds, vectors, parallel=parallel)
            if cv["fold_parallel"] != parallel:
                sys.exit("fold-parallel CV did not run for this setting (see the log)")
            runs[parallel].append(cv)
            logging.warning("parallel=%s: %.1f s", parallel, cv["train_seconds"])
    rows = []
    for parallel, cvs in runs.items():
        seconds = statistics.median(c["train_seconds"] for c in cvs)
        rows.append(
            {
                "folds": "side by side" if parallel else "one by one",
                "train_seconds": round(seconds, 1),
                "seconds_per_epoch": round(seconds / args.epochs, 2),
                "mean_accuracy": round(statistics.fmean(c["mean_accuracy"] for c in cvs), 4),
            }
        )
    speedup = rows[0]["train_seconds"] / rows[1]["train_seconds"]
    print(
        f"{args.folds}-fold CV of {args.data.name}, recipe {args.recipe}, mode {opts.mode}, "
        f"{args.epochs} epochs, device {args.device}, threads {args.threads}; "
        f"median of {args.repeats} interleaved repeats"
    )
    print("| folds | fit seconds | s/epoch | mean accuracy |\n|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['folds']} | {r['train_seconds']} | {r['seconds_per_epoch']} "
            f"| {r['mean_accuracy']:.4f} |"
        )
    print(f"side by side is {speedup:.2f}x the speed of one by one")
    repeats = {
        "side by side" if parallel else "one by one": [
            {k: c[k] for k in ("train_seconds", "mean_accuracy", "folds")} for c in cvs
        ]
        for parallel, cvs in runs.items()
    }
    report = {"command": command("bench.cv_speed"), "rows": rows, "speedup": speedup}
    write_json(args.json_out, {**report, "repeats": repeats})


if __name__ == "__main__":
    main()

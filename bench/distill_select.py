"""Dev selection of the ``--distill sentence-encoder`` student: N, p, temperature, mix.

One factor at a time around ``DEFAULTS`` (4 augmented copies, mask chance 0.1, temperature 1,
soft labels only: the library's defaults when the grid first ran), on dev data only: SST-2's
dev set, TREC's 10% holdout and the inner 10% holdout of MR's outer folds (the splits of
``python -m bench.text_benchmark --dev-only``); no test split is read. Per data set and seed
it also trains the default recipe, the student's baseline; the teacher's dev accuracy comes
from the teacher that labels the student's texts (the recipe with the gated sentence term).

Every candidate of a data set and seed shares one teacher, and its labels are cached
(``$TEXTCNN_CACHE/distill``): only a candidate whose augmented texts are new (another mask
chance, more copies) fits the teacher again, to label those texts. Each run is written to
``--json-out`` as it ends, and a rerun skips the runs already there, so a stopped grid
resumes.

    python -m bench.distill_select --datasets trec,sst2 --seeds 0
    python -m bench.distill_select --datasets mr --mr-folds 1,2 --only defaults,temperature
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from sklearn.model_selection import StratifiedKFold

from bench.tables import distill_table
from textcnn.engine.splits import dev_split
from textcnn.text.data import TextDataset, read_text_dataset
from textcnn.text.recipes import recipe_options
from textcnn.text.sentence_term import remembering
from textcnn.text.train import train_text

log = logging.getLogger("distill_select")
REPO = Path(__file__).resolve().parents[1]
DATASETS = ("sst2", "trec", "mr")
# the student's candidates, one factor at a time around the defaults, each named by its factor;
# in the order they run, the cheapest first: fewer copies train on fewer rows; the temperature
# and the mix reuse the default's labels; another mask or more copies are new texts, which the
# teacher is fitted again to label. At T=1 the teacher's labels are nearly hard (SST-2: 99% of
# the training texts' and 86% of the copies' top probability > 0.99), hence T up to 8.
GRID: list[tuple[str, dict[str, Any]]] = [
    ("defaults", {}),
    ("copies", {"augment": 0}),
    ("copies", {"augment": 1}),
    ("temperature", {"distill_temperature": 2.0}),
    ("mix", {"distill_weight": 0.5}),
    ("temperature", {"distill_temperature": 4.0}),
    ("temperature", {"distill_temperature": 8.0}),
    ("mix", {"distill_weight": 0.8}),
    ("mask", {"augment_mask": 0.3}),
    ("copies", {"augment": 8}),
    ("mask", {"augment_mask": 0.0}),
]
DEFAULTS = {"augment": 4, "augment_mask": 0.1, "distill_temperature": 1.0, "distill_weight": 1.0}


def splits(name: str, root: Path, seed: int, mr_folds: list[int]) -> Iterator[tuple[Any, ...]]:
    """``(fold, train, dev)`` of data set ``name``: the dev data ``text_benchmark --dev-only``
    scores on (SST-2: its dev set; TREC and MR's outer folds: a seeded 10% holdout)."""
    text = root / "text"
    if name == "sst2":
        yield None, *(read_text_dataset(text / f"stsa.binary.{s}") for s in ("train", "dev"))
    elif name == "trec":
        yield None, *dev_split(read_text_dataset(text / "TREC.train.all"), 0.1, seed)
    else:
        data = read_text_dataset(text / "rt-polarity.all")
        folds = StratifiedKFold(n_splits=10, shuffle=True, random_state=0)
        for fold, (train_idx, _) in enumerate(folds.split(data.texts, data.labels), start=1):
            if fold in mr_folds:
                yield fold, *dev_split(data.subset(list(train_idx)), 0.1, seed)


def train(data: TextDataset, dev: TextDataset, threads: int, **options: Any) -> dict[str, Any]:
    """One fit's dev figures: the whole network (served), its CNN alone, its best epoch, and
    for a student its teacher's dev accuracy and whether its labels were all cached."""
    opts = recipe_options(threads=threads, progress=False, **options)
    started = time.perf_counter()
    bundle = train_text(data, opts, dev=dev)
    result = bundle.training["result"]
    out: dict[str, Any] = {
        "dev": round(100 * bundle.metrics["dev_accuracy"], 2),
        "best_epoch": result["best_epoch"],
        "epochs_run": len(result["history"]),
        "max_epochs": opts.train.epochs,
        "seconds": round(time.perf_counter() - started),  # a loaded machine: not a finding
    }
    ngrams = bundle.training.get("ngrams")
    if ngrams and ngrams["dev_by_weight"]:
        out["dev_cnn_alone"] = round(100 * ngrams["dev_by_weight"]["0.0"], 2)
        out["ngram_weight"] = ngrams["weight"]
    taught = bundle.training.get("distill")
    if taught:
        out["teacher_dev"] = round(100 * taught["teacher_dev"], 2)
        out["teacher_rows"], out["teacher_cached"] = taught["rows"], taught["cached"]
        out["teacher_gate"] = taught.get("teacher_sentence_encoder", {})
    return out


def load(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text())["runs"] if path.is_file() else []


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Held while a run is added: grids of several data sets may share one file (the lock is
    on its folder, so no lock file is left behind)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def add(path: Path, run: dict[str, Any]) -> None:
    """``run`` added to the file (replacing one with its key), with the default recipe's dev
    accuracy on its data if a student; written to a temporary file and renamed, so a stopped
    grid keeps every finished run."""
    with locked(path):
        runs = [r for r in load(path) if key(r) != key(run)]
        if run["model"] == "student":
            where = (run["dataset"], run["fold"], run["seed"], "default", "defaults")
            run["default_dev"] = next((r["dev"] for r in runs if key(r) == where), None)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"runs": [*runs, run]}, indent=1) + "\n")
        os.replace(tmp, path)


def key(run: dict[str, Any]) -> tuple[Any, ...]:
    return run["dataset"], run["fold"], run["seed"], run["model"], run["candidate"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "datasets")
    p.add_argument("--datasets", default="sst2,trec", help=f"comma list of {DATASETS}")
    p.add_argument("--seeds", default="0", help="comma list of seeds")
    p.add_argument("--mr-folds", default="1", help="MR outer folds (1-based) whose dev to use")
    factors = list(dict.fromkeys(factor for factor, _ in GRID))
    p.add_argument("--only", default=",".join(factors), help=f"comma list of {factors}")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json-out", type=Path, default=REPO / "bench/results/distill_dev.json")
    p.add_argument("--table", action="store_true", help="print --json-out's runs; train nothing")
    args = p.parse_args(argv)
    if args.table:
        print(distill_table({"runs": load(args.json_out)}))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for name in ("textcnn", "gensim", "sentence_transformers"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("textcnn.text.distill").setLevel(logging.INFO)
    torch.set_num_threads(args.threads)
    candidates = [c for factor, c in GRID if factor in args.only.split(",")]
    mr_folds = [int(f) for f in args.mr_folds.split(",")]
    for dataset in args.datasets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            for fold, data, dev in splits(dataset, args.data_dir, seed, mr_folds):
                where = {"dataset": dataset, "fold": fold, "seed": seed}
                with remembering():  # the teacher's sentence embeddings, kept across refits
                    for model, options in [("default", {}), *(("student", c) for c in candidates)]:
                        name = " ".join(f"{k}={v}" for k, v in options.items()) or "defaults"
                        run = {**where, "model": model, "candidate": name}
                        if any(key(r) == key(run) for r in load(args.json_out)):
                            continue  # done by an earlier (stopped) grid
                        if model == "student":
                            options = {"distill": "sentence-encoder", **DEFAULTS, **options}
                        run.update(options=options, **train(data, dev, args.threads, seed=seed,
                                                            **options))  # fmt: skip
                        add(args.json_out, run)
                        log.info("%s", json.dumps(run))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Kim (2014) accuracy benchmark: TextCNN modes x word vectors on MR, TREC and SST-2.

Protocols (as Kim's): MR by stratified, seeded K-fold CV (the folds of
``textcnn.text.train.cross_validate``); TREC with its test set and 10% of the training data
held out for dev; SST-2 with its dev and test sets (sentences only, no phrases). Every CNN
picks its epoch on dev. Vectors: ``glove`` (the packaged glove-6b-50d), ``w2v`` (Word2Vec,
300-d skip-gram with ``textcnn embeddings train``'s defaults, learned from each training
split's text only, so never from a test fold) and ``glove+w2v`` (the two concatenated).
NBSVM-bi (Wang & Manning 2012, ``bench/nbsvm.py``) runs on the same folds and splits,
trained on the whole training split (it has nothing to select on dev).

    python bench/text_benchmark.py --datasets mr,trec,sst2 --modes all --vectors glove \\
        --json-out /tmp/bench.json

Results merge into ``--json-out`` (keyed by dataset, mode and vectors), so separate runs
with reduced settings build one table; every cell says the folds and epochs it ran.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from gensim.models import KeyedVectors
from sklearn.model_selection import StratifiedKFold

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from nbsvm import NBSVM  # noqa: E402

from textcnn.engine.trainer import TrainConfig  # noqa: E402
from textcnn.models.textcnn import MODES  # noqa: E402
from textcnn.text.data import TextDataset, read_text_dataset  # noqa: E402
from textcnn.text.embeddings import (  # noqa: E402
    concatenate_vectors,
    load_vectors,
    train_word2vec,
)
from textcnn.text.tokenize import get_tokenizer  # noqa: E402
from textcnn.text.train import TextTrainOptions, train_text  # noqa: E402

log = logging.getLogger("text_benchmark")
DATASETS = ("mr", "trec", "sst2")
TITLES = {"mr": "MR", "trec": "TREC", "sst2": "SST-2"}
VECTORS = ("glove", "w2v", "glove+w2v")
# Kim (2014) Table 2 (../shared/datasets/README.md); Wang & Manning's NBSVM-bi on MR.
KIM = {
    "rand": {"mr": 76.1, "trec": 91.2, "sst2": 82.7},
    "static": {"mr": 81.0, "trec": 92.8, "sst2": 86.8},
    "non-static": {"mr": 81.5, "trec": 93.6, "sst2": 87.2},
    "multichannel": {"mr": 81.1, "trec": 92.2, "sst2": 88.1},
}
TARGETS = {"mr": 80.5, "trec": 92.0, "sst2": 85.0}


@dataclass
class Task:
    """One evaluation: train (dev: None = a 10% holdout) and test."""

    train: TextDataset
    dev: TextDataset | None
    test: TextDataset


def tasks(name: str, root: Path, folds: int, run_folds: int, seed: int) -> list[Task]:
    text = root / "text"
    if name == "mr":
        data = read_text_dataset(text / "rt-polarity.all")
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        out = []
        for train_idx, test_idx in list(splitter.split(data.texts, data.labels))[:run_folds]:
            out.append(Task(data.subset(list(train_idx)), None, data.subset(list(test_idx))))
        return out
    if name == "trec":
        train = read_text_dataset(text / "TREC.train.all")
        return [Task(train, None, read_text_dataset(text / "TREC.test.all"))]
    train = read_text_dataset(text / "stsa.binary.train")
    dev = read_text_dataset(text / "stsa.binary.dev")
    return [Task(train, dev, read_text_dataset(text / "stsa.binary.test"))]


def word2vec_for(train: TextDataset, tokenizer: str, seed: int, threads: int) -> KeyedVectors:
    """``textcnn embeddings train`` defaults (300-d skip-gram, window 5, min count 2, 10 epochs)."""
    tokenize = get_tokenizer(tokenizer)
    sentences = [tokenize(t, True) for t in train.texts]
    return train_word2vec(sentences, 300, 5, 2, 10, True, seed, threads)


def run_cnn(
    task: Task, opts: TextTrainOptions, vectors: KeyedVectors | None
) -> tuple[float, float, float, int]:
    """Test and dev accuracy, seconds per epoch and best epoch of one trained model."""
    bundle = train_text(task.train, opts, dev=task.dev, test=task.test, vectors=vectors)
    result = bundle.training["result"]
    return (
        bundle.metrics["test_accuracy"],
        bundle.metrics["dev_accuracy"],
        result["seconds_per_epoch"],
        result["best_epoch"],
    )


def run_nbsvm(task: Task, tokenizer: str) -> float:
    tokenize = get_tokenizer(tokenizer)
    model = NBSVM(lambda text: tokenize(text, True))
    model.fit(task.train.texts, task.train.labels)
    return model.accuracy(task.test.texts, task.test.labels)


def summary(accs: list[float]) -> dict[str, float]:
    return {
        "accuracy": 100 * statistics.fmean(accs),
        "std": 100 * statistics.pstdev(accs) if len(accs) > 1 else 0.0,
    }


def merge(path: Path | None, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records already in ``path`` plus these (a new record replaces one with its key)."""
    old = json.loads(path.read_text())["results"] if path and path.is_file() else []
    key = lambda r: (r["dataset"], r["model"], r["mode"], r["vectors"])  # noqa: E731
    merged = {key(r): r for r in old}
    merged.update({key(r): r for r in records})
    return list(merged.values())


def cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return "-"
    text = f"{r['accuracy']:.1f}"
    if r.get("runs", 1) > 1:
        text += f" ±{r['std']:.1f}"
    if r["model"] == "cnn":
        folds = f"{r['runs']}/{r['folds']}f " if r["dataset"] == "mr" else ""
        text += f" [{folds}{r['epochs']}e]"
    elif r["dataset"] == "mr":
        text += f" [{r['runs']}/{r['folds']}f]"
    return text


def table(results: list[dict[str, Any]]) -> str:
    index = {(r["dataset"], r["model"], r["mode"], r["vectors"]): r for r in results}
    head = "| model | MR | TREC | SST-2 | s/epoch (MR / TREC / SST-2) |"
    lines = [head, "| --- | --- | --- | --- | --- |"]
    found = {r["vectors"] for r in results if r["vectors"] != "-"}
    kinds = [v for v in VECTORS if v in found] + sorted(found - set(VECTORS))
    for vectors in kinds or ["glove"]:
        for mode in MODES:
            if mode == "rand" and vectors != (kinds or ["glove"])[0]:
                continue
            rows = [
                index.get((d, "cnn", mode, "-" if mode == "rand" else vectors)) for d in DATASETS
            ]
            if not any(rows):
                continue
            name = f"CNN-{mode}" + ("" if mode == "rand" else f" ({vectors})")
            secs = " / ".join(f"{r['seconds_per_epoch']:.1f}" if r else "-" for r in rows)
            lines.append(f"| {name} | {' | '.join(cell(r) for r in rows)} | {secs} |")
    nbsvm = [index.get((d, "nbsvm", "-", "-")) for d in DATASETS]
    lines.append(f"| NBSVM-bi (this script) | {' | '.join(cell(r) for r in nbsvm)} | |")
    for mode in MODES:
        kim = " | ".join(f"{KIM[mode][d]:.1f}" for d in DATASETS)
        lines.append(f"| Kim 2014 CNN-{mode} (word2vec 300d) | {kim} | |")
    lines.append("| targets (glove non-static / multichannel) | ≥80.5 | ≥92.0 | ≥85.0 | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "datasets")
    p.add_argument("--datasets", default="mr,trec,sst2", help=f"comma list of {DATASETS}")
    p.add_argument("--modes", default="all", help=f"comma list of {MODES}, or all")
    p.add_argument("--vectors", default="glove", help=f"comma list of {VECTORS}")
    p.add_argument("--folds", type=int, default=10, help="MR cross-validation folds")
    p.add_argument("--run-folds", type=int, help="train only the first N MR folds")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--feature-maps", type=int, default=100)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--optimizer", default="adadelta")
    p.add_argument("--pretrained-vocab", type=int, default=50_000)
    p.add_argument("--tokenizer", default="kim")
    p.add_argument("--no-cnn", action="store_true", help="NBSVM only")
    p.add_argument("--no-nbsvm", action="store_true")
    p.add_argument("--tag", default="", help="appended to the vectors name in the results")
    p.add_argument("--json-out", type=Path, help="merge results into this JSON file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for name in ("textcnn", "gensim"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if not (args.data_dir / "text").is_dir():
        print(f"skipped: {args.data_dir / 'text'} is absent (pass --data-dir)")
        return 0
    datasets = args.datasets.split(",")
    modes = list(MODES) if args.modes == "all" else args.modes.split(",")
    vector_kinds = args.vectors.split(",")
    for value, allowed in ((datasets, DATASETS), (modes, MODES), (vector_kinds, VECTORS)):
        if bad := [v for v in value if v not in allowed]:
            p.error(f"unknown {bad}; choose from {allowed}")
    torch.set_num_threads(args.threads)
    glove = None
    if any(m != "rand" for m in modes) and any("glove" in v for v in vector_kinds):
        glove = load_vectors("glove-6b-50d")
        glove_head = load_vectors("glove-6b-50d", args.pretrained_vocab)  # for glove+w2v
    records: list[dict[str, Any]] = []
    for dataset in datasets:
        run_folds = min(args.run_folds or args.folds, args.folds)
        work = tasks(dataset, args.data_dir, args.folds, run_folds, args.seed)
        base = {"dataset": dataset, "folds": args.folds, "runs": len(work)}
        if not args.no_nbsvm:
            accs = [run_nbsvm(t, args.tokenizer) for t in work]
            records.append({**base, "model": "nbsvm", "mode": "-", "vectors": "-", **summary(accs)})
            log.info("%s NBSVM-bi %.2f", dataset, records[-1]["accuracy"])
        if args.no_cnn:
            continue
        w2v_cache: dict[int, KeyedVectors] = {}
        combos = [(m, "-") for m in modes if m == "rand"]
        combos += [(m, v) for v in vector_kinds for m in modes if m != "rand"]
        for mode, kind in combos:
            accs, devs, secs, epochs_best = [], [], [], []
            for i, task in enumerate(work):
                vectors = None
                if kind != "-":
                    if "w2v" in kind and i not in w2v_cache:
                        w2v_cache[i] = word2vec_for(task.train, args.tokenizer, args.seed, 2)
                    vectors = {
                        "glove": glove,
                        "w2v": w2v_cache.get(i),
                        "glove+w2v": (
                            concatenate_vectors([glove_head, w2v_cache[i]], args.seed)
                            if kind == "glove+w2v"
                            else None
                        ),
                    }[kind]
                opts = TextTrainOptions(
                    mode=mode,
                    embeddings=kind if kind != "-" else None,
                    pretrained_vocab=args.pretrained_vocab,
                    feature_maps=args.feature_maps,
                    dropout=args.dropout,
                    tokenizer=args.tokenizer,
                    train=TrainConfig(
                        epochs=args.epochs,
                        optimizer=args.optimizer,
                        seed=args.seed,
                        threads=args.threads,
                        progress=False,
                    ),
                )
                started = time.perf_counter()
                acc, dev_acc, sec, best = run_cnn(task, opts, vectors)
                accs.append(acc)
                devs.append(dev_acc)
                secs.append(sec)
                epochs_best.append(best)
                log.info(
                    "%s %s %s run %d/%d: test %.4f, dev %.4f, best epoch %d, %.2f s/epoch (%.0f s)",
                    dataset, mode, kind, i + 1, len(work), acc, dev_acc, best, sec,
                    time.perf_counter() - started,
                )  # fmt: skip
            records.append(
                {
                    **base,
                    "model": "cnn",
                    "mode": mode,
                    "vectors": kind + args.tag if kind != "-" else "-",
                    "epochs": args.epochs,
                    "seconds_per_epoch": statistics.fmean(secs),
                    "best_epochs": epochs_best,
                    "per_run": accs,
                    "dev_accuracy": 100 * statistics.fmean(devs),
                    "settings": {
                        k: getattr(args, k.replace("-", "_"))
                        for k in ("feature-maps", "dropout", "optimizer", "pretrained-vocab")
                    },
                    **summary(accs),
                }
            )
            if args.json_out:
                all_results = merge(args.json_out, records)
                args.json_out.write_text(json.dumps({"results": all_results}, indent=2) + "\n")
    results = merge(args.json_out, records)
    if args.json_out:
        args.json_out.write_text(json.dumps({"results": results}, indent=2) + "\n")
    print(f"\n{args.threads} CPU threads; [Kf Ne] = folds run / folds, epochs\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

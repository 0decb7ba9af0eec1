"""Multi-label benchmark: the TextCNN (``--multi-label``) against one-vs-rest logistic
regression on TF-IDF uni+bigrams, on the multi-label demo tickets (``data/demo``).

No public multi-label text set installs offline from the package registries, so the data is
the project's own corpus of support tickets with one to three intents
(``data/demo/make_multilabel_corpus.py``). Per seed, both models get the same split: the
seeded 10% dev holdout of the training file (where the CNN picks its epoch and both tune
their per-label thresholds for F1, and the baseline its C), the rest to train on, the test
file to report. The CNN uses the default recipe (``--recipe`` otherwise) plus
``multi_label``. Seeds run interleaved (baseline, then CNN, per seed); the table shows
mean ± std and the median over the seeds::

    python -m bench.multilabel --seeds 0,1,2 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from bench import REPO
from bench.jsonout import command, json_out, write_json
from textcnn.engine.multilabel import (
    decide,
    label_matrix,
    multilabel_report,
    tune_thresholds,
)
from textcnn.engine.splits import dev_split, training_labels
from textcnn.text.data import TextDataset, read_text_dataset
from textcnn.text.recipes import RECIPES, recipe_options
from textcnn.text.tokenize import get_tokenizer
from textcnn.text.train import train_text

DEMO = REPO / "data" / "demo"
METRICS = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss")
CS = (1.0, 10.0, 100.0, 1000.0)  # the baseline's regulariser, chosen on dev micro-F1


def read(path: Path) -> TextDataset:
    return read_text_dataset(path, separator="|")


def tfidf_ovr(
    train: TextDataset, dev: TextDataset, test: TextDataset, labels: list[str]
) -> dict[str, Any]:
    """One-vs-rest logistic regression on TF-IDF uni+bigrams (the CNN's tokeniser); C and
    per-label thresholds chosen on dev."""
    tokenize = get_tokenizer("kim")
    vectorizer = TfidfVectorizer(
        tokenizer=lambda t: tokenize(t, True),
        token_pattern=None,
        lowercase=False,
        ngram_range=(1, 2),
        sublinear_tf=True,
    )
    x_train = vectorizer.fit_transform(train.texts)
    x_dev, x_test = vectorizer.transform(dev.texts), vectorizer.transform(test.texts)
    y_train, y_dev = (label_matrix(d.label_sets or [], labels).numpy() for d in (train, dev))
    best: tuple[float, Any, list[float]] | None = None
    for c in CS:
        clf = OneVsRestClassifier(LogisticRegression(C=c, max_iter=2000)).fit(x_train, y_train)
        proba = torch.from_numpy(clf.predict_proba(x_dev))
        thresholds = tune_thresholds(proba, torch.from_numpy(y_dev))
        f1 = multilabel_report(y_dev, decide(proba, thresholds), labels)["micro_f1"]
        if best is None or f1 > best[0]:
            best = (f1, clf, thresholds)
    assert best is not None
    _, clf, thresholds = best
    proba = torch.from_numpy(clf.predict_proba(x_test))
    y_test = label_matrix(test.label_sets or [], labels).numpy()
    report = multilabel_report(y_test, decide(proba, thresholds), labels)
    return {**report, "C": clf.estimator.C}


def cnn(
    train: TextDataset, dev: TextDataset, test: TextDataset, args: argparse.Namespace, seed: int
) -> dict[str, Any]:
    opts = recipe_options(
        args.recipe, multi_label=True, seed=seed, threads=args.threads, progress=False
    )
    bundle = train_text(train, opts, dev=dev, test=test)
    return {**bundle.metrics["test"], "best_epoch": bundle.metrics["best_epoch"]}


def summary(values: list[float]) -> str:
    mean = 100 * statistics.fmean(values)
    std = 100 * statistics.pstdev(values)
    return f"{mean:.1f} ± {std:.1f} ({100 * statistics.median(values):.1f})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", type=Path, default=DEMO / "support_multi_train.jsonl")
    p.add_argument("--test", type=Path, default=DEMO / "support_multi_test.jsonl")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated (%(default)s)")
    p.add_argument("--recipe", choices=RECIPES, default="default")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json-out", **json_out("multilabel"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data, test = read(args.train), read(args.test)
    labels = training_labels(data, test)
    runs: dict[str, list[dict[str, Any]]] = {"tfidf-ovr-lr": [], "textcnn": []}
    for seed in (int(s) for s in args.seeds.split(",")):
        train, dev = dev_split(data, 0.1, seed)
        for name in runs:
            started = time.perf_counter()
            if name == "textcnn":
                report = cnn(train, dev, test, args, seed)
            else:
                report = tfidf_ovr(train, dev, test, labels)
            report["seconds"] = time.perf_counter() - started
            report["seed"] = seed
            runs[name].append(report)
            print(f"seed {seed} {name}: micro-F1 {report['micro_f1']:.4f}", file=sys.stderr)
    header = ["model", *METRICS, "seconds"]
    rows = [header]
    for name, reports in runs.items():
        cells = [summary([r[m] for r in reports]) for m in METRICS]
        rows.append([name, *cells, f"{statistics.median(r['seconds'] for r in reports):.1f}"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print(f"{len(data)} training tickets ({len(train)} train / {len(dev)} dev), {len(test)} test;")
    print("mean ± std (median) in %, over seeds " + args.seeds)
    write_json(args.json_out, {"command": command("bench.multilabel"), "runs": runs})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

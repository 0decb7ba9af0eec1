"""Text accuracy benchmark: the TextCNN recipe against strong simple baselines on MR, TREC, SST-2.

Protocols (as Kim's): MR by stratified, seeded 10-fold CV (the folds of
``textcnn.text.train.cross_validate``); TREC with its test set and 10% of the training data
held out for dev; SST-2 with its dev and test sets (sentences only, no phrases). Every CNN
picks its epoch on dev. Each CNN cell is run once per ``--seeds`` seed (on every MR fold),
and reported as mean ± std over the runs.

Baselines on the same folds and splits, trained on the whole training split:
NBSVM-bi (Wang & Manning 2012, ``bench/nbsvm_bi.py``) and the frozen sentence encoder
all-MiniLM-L6-v2 with logistic regression (``bench/minilm_lr.py``).

    python -m bench.text_benchmark --datasets mr --seeds 0 --json-out /tmp/bench.json
    python -m bench.text_benchmark --datasets trec,sst2 --seeds 0,1,2 --json-out /tmp/bench.json
    python -m bench.text_benchmark --modes multichannel --no-baselines --json-out /tmp/bench.json
    python -m bench.text_benchmark --datasets mr,trec,sst2 --run-folds 3 --dev-only --lr 5e-4

``--dev-only`` is for choosing settings: it scores each candidate on its dev data (MR: the inner
10% holdout of each outer fold's training split; TREC: a 10% holdout; SST-2: its dev set) and
never reads a test split; its cells (every run's dev figures) are added to ``selection`` in
``--json-out``.

``--recipe`` (default: the default recipe) gives every CNN option not set here; ``--modes`` and
``--vectors`` (``--embeddings`` values) default to the recipe's. Results merge into
``--json-out`` (default ``bench/results/text_benchmark.json``; the docs' tables read
``bench/results/text_default.json``) keyed by dataset, model, mode and vectors, so separate
runs build one table; each CNN record keeps every run (``raw``: per fold and seed, with the
n-gram weight and temperature chosen on dev), each baseline its ``per_run`` accuracies.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from bench import DATA_ROOT
from bench.datasets import DATASETS, Task, tasks
from bench.jsonout import json_out, write_json
from bench.minilm_lr import MiniLMLogReg, embed
from bench.nbsvm_bi import NBSVM
from textcnn.cli.options import int_list
from textcnn.engine.bundle import Bundle
from textcnn.engine.calibration import calibration, nll
from textcnn.engine.predictor import Predictor
from textcnn.models.textcnn import MODES
from textcnn.text.data import TextDataset
from textcnn.text.nbsvm import unweighted_scores
from textcnn.text.recipes import RECIPES, recipe_options
from textcnn.text.tokenize import get_tokenizer
from textcnn.text.train import TextTrainOptions, train_text

log = logging.getLogger("text_benchmark")
TITLES = {"mr": "MR", "trec": "TREC", "sst2": "SST-2"}
# Kim (2014) Table 2 (../shared/datasets/README.md), word2vec GoogleNews 300-d.
KIM = {
    "rand": {"mr": 76.1, "trec": 91.2, "sst2": 82.7},
    "static": {"mr": 81.0, "trec": 92.8, "sst2": 86.8},
    "non-static": {"mr": 81.5, "trec": 93.6, "sst2": 87.2},
    "multichannel": {"mr": 81.1, "trec": 92.2, "sst2": 88.1},
}
TARGETS = {"mr": 81.5, "trec": 93.0, "sst2": 86.0}
CALIBRATION = ("test_ece_before", "test_ece_after", "test_nll_before", "test_nll_after")
# the recipe's training options a run may override, as flags and their parsers
OVERRIDES: dict[str, Any] = {
    "--epochs": int, "--batch-size": int, "--optimizer": str, "--lr": float, "--patience": int,
    "--feature-maps": int, "--dropout": float, "--word-dropout": float, "--max-norm": float,
    "--label-smoothing": float, "--ema": float, "--teacher": str, "--augment": int,
    "--teacher-epochs": int, "--distill-weight": float, "--filter-widths": int_list,
    "--sentence-encoder": str, "--distill": str, "--augment-mask": float,
    "--augment-window": float, "--distill-temperature": float,
}  # fmt: skip


def run_cnn(task: Task, opts: TextTrainOptions, dev_only: bool = False) -> dict[str, float]:
    """Train on ``task`` and score it; ``dev_only``: the test split is never read (selection).

    On test: the accuracy, the expected calibration error and NLL before and after the
    bundle's temperature, and, from the same bundle, the CNN alone (every other term weighted
    0) and the n-gram scores alone (their argmax)."""
    started = time.perf_counter()
    bundle = train_text(task.train, opts, dev=task.dev, test=None if dev_only else task.test)
    seconds = time.perf_counter() - started
    result = bundle.training["result"]
    out = {
        "dev": bundle.metrics["dev_accuracy"],
        "seconds_per_epoch": result["seconds_per_epoch"],
        "best_epoch": result["best_epoch"],
        "epochs_run": len(result["history"]),
        "seconds": seconds,
        "temperature": bundle.temperature,
    }
    ngrams = bundle.training.get("ngrams")
    if ngrams and ngrams["dev_by_weight"]:  # the ablation: the same network, the CNN alone
        out["ngram_weight"] = ngrams["weight"]
        out["dev_cnn_alone"] = ngrams["dev_by_weight"]["0.0"]
    taught = bundle.training.get("distill")
    if taught:  # the teacher's dev accuracy, and its share of the time unless it was cached
        out["teacher_dev"] = taught["teacher_dev"]
        out["teacher_seconds"] = taught["teacher_seconds"] if not taught["cached"] else 0.0
    if dev_only:
        return out
    out["test"] = bundle.metrics["test_accuracy"]
    out.update(test_calibration(bundle, task.test))
    if "dev_cnn_alone" in out:  # every term beside the CNN weighted 0, then restored
        out["test_ngrams_alone"] = ngrams_alone(bundle, task.test)
        terms = [m for m in (bundle.model.side, bundle.model.input_term) if m is not None]
        weights = [m.weight.item() for m in terms]
        for m in terms:
            m.weight.zero_()
        predicted = Predictor(bundle).predict(task.test.texts)
        out["test_cnn_alone"] = statistics.fmean(
            p.label == y for p, y in zip(predicted, task.test.labels, strict=True)
        )
        for m, weight in zip(terms, weights, strict=True):
            m.weight.fill_(weight)
    return out


def gold_ids(bundle: Bundle, data: TextDataset) -> torch.Tensor:
    index = {label: i for i, label in enumerate(bundle.labels)}
    return torch.tensor([index[label] for label in data.labels])


def test_calibration(bundle: Bundle, test: TextDataset) -> dict[str, float]:
    """The test data's expected calibration error and NLL under the raw logits (before) and
    under the bundle's temperature (after); fails if the temperature moved any prediction."""
    predictor = Predictor(bundle)
    logits = predictor.predict_logits(test.texts).float()
    targets = gold_ids(bundle, test)
    before, after = logits.softmax(dim=1), predictor.proba_from_logits(logits)
    if not torch.equal(before.argmax(dim=1), after.argmax(dim=1)):
        raise AssertionError("the temperature moved a prediction")
    out = {}
    for name, proba, t in (("before", before, 1.0), ("after", after, predictor.temperature)):
        confidence, predicted = proba.max(dim=1)
        out[f"test_ece_{name}"] = calibration(confidence, predicted == targets)["ece"]
        out[f"test_nll_{name}"] = nll(logits, targets, t)
    return out


@torch.no_grad()
def ngrams_alone(bundle: Bundle, test: TextDataset) -> float:
    """Test accuracy of the bundle's n-gram scores on their own (the argmax of its NBSVM's
    class scores), the CNN left out."""
    side = bundle.model.side
    weight = side.weight.item()
    scores = unweighted_scores(side, bundle.processor.encode(test.texts))
    side.weight.fill_(weight)
    return float((scores.argmax(dim=1) == gold_ids(bundle, test)).float().mean())


def run_baseline(name: str, task: Task, tokenizer: str) -> float:
    if name == "nbsvm":
        tokenize = get_tokenizer(tokenizer)
        model: Any = NBSVM(lambda text: tokenize(text, True))
    else:
        model = MiniLMLogReg()
    model.fit(task.train.texts, task.train.labels)
    return model.accuracy(task.test.texts, task.test.labels)


def summary(accs: list[float]) -> dict[str, float]:
    return {
        "accuracy": 100 * statistics.fmean(accs),
        "std": 100 * statistics.pstdev(accs) if len(accs) > 1 else 0.0,
        "runs": len(accs),
    }


def saved(path: Path) -> dict[str, Any]:
    """What ``path`` holds already: ``results`` (test runs) and ``selection`` (dev-only)."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def save(path: Path, **parts: list[dict[str, Any]]) -> None:
    """Write ``parts`` into ``path``, keeping the other parts it holds."""
    write_json(path, {**saved(path), **parts})


def merge(path: Path, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records already in ``path`` plus these (a new record replaces one with its key)."""
    old = saved(path).get("results", [])
    key = lambda r: (r["dataset"], r["model"], r["mode"], r["vectors"])  # noqa: E731
    merged = {key(r): r for r in old}
    merged.update({key(r): r for r in records})
    return list(merged.values())


def cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return "-"
    text = f"{r['accuracy']:.1f}"
    if r["runs"] > 1:
        text += f" ± {r['std']:.1f}"
    return text + f" ({r['runs']})"


def table(results: list[dict[str, Any]]) -> str:
    index = {(r["dataset"], r["model"], r["mode"], r["vectors"]): r for r in results}
    lines = [
        "| model | MR | TREC | SST-2 | dev (MR / TREC / SST-2) | MR 10-fold s | s/epoch MR |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    cnns = sorted({(r["mode"], r["vectors"]) for r in results if r["model"] == "cnn"})
    for mode, vectors in cnns:
        rows = [index.get((d, "cnn", mode, vectors)) for d in DATASETS]
        devs = " / ".join(f"{r['dev_accuracy']:.1f}" if r else "-" for r in rows)
        mr = rows[0]
        wall = f"{mr['seconds_per_seed']:.0f}" if mr and mr["folds_run"] == 10 else "-"
        spe = f"{mr['seconds_per_epoch']:.1f}" if mr else "-"
        name = f"TextCNN {mode} ({vectors})"
        lines.append(f"| {name} | {' | '.join(cell(r) for r in rows)} | {devs} | {wall} | {spe} |")
        alone = [r.get("cnn_alone") if r else None for r in rows]
        if any(alone):
            devs = " / ".join(f"{a['dev_accuracy']:.1f}" if a else "-" for a in alone)
            cells = " | ".join(cell(a) for a in alone)
            lines.append(f"| the same, without its n-gram scores | {cells} | {devs} | | |")
    for model, title in (("nbsvm", "NBSVM-bi"), ("minilm-lr", "MiniLM sentence embedding + LR")):
        rows = [index.get((d, model, "-", "-")) for d in DATASETS]
        if any(rows):
            lines.append(f"| {title} | {' | '.join(cell(r) for r in rows)} | | | |")
    for mode in MODES:
        kim = " | ".join(f"{KIM[mode][d]:.1f}" for d in DATASETS)
        lines.append(f"| Kim 2014 CNN-{mode} (word2vec 300-d, reported) | {kim} | | | |")
    targets = " | ".join(f"≥ {TARGETS[d]:.1f}" for d in DATASETS)
    lines.append(f"| targets of the default recipe | {targets} | | | |")
    return "\n".join(lines)


def cnn_record(
    info: dict[str, Any],
    mode: str,
    vectors: str,
    runs: list[dict[str, Any]],
    options: dict[str, Any],
) -> dict[str, Any]:
    """One CNN cell: its ``runs`` as they are (``raw``: every figure per fold and seed) and
    their summaries."""
    record = {
        **info,
        "model": "cnn",
        "mode": mode,
        "vectors": vectors,
        "folds_run": len({r["fold"] for r in runs}),
        "seeds": (seeds := sorted({r["seed"] for r in runs})),
        "per_run": [r["test"] for r in runs],
        "dev_accuracy": 100 * statistics.fmean(r["dev"] for r in runs),
        "best_epochs": [r["best_epoch"] for r in runs],
        "seconds_per_epoch": statistics.fmean(r["seconds_per_epoch"] for r in runs),
        "seconds_per_seed": sum(r["seconds"] for r in runs) / len(seeds),
        "options": options,
        **summary([r["test"] for r in runs]),
        "temperatures": [r["temperature"] for r in runs],
        "raw": runs,
    }
    for key in CALIBRATION:
        values = [r[key] for r in runs]
        record[key] = {"mean": statistics.fmean(values), "std": statistics.pstdev(values)}
    if all("test_cnn_alone" in r for r in runs):
        record["ngram_weights"] = [r["ngram_weight"] for r in runs]
        record["cnn_alone"] = {
            "dev_accuracy": 100 * statistics.fmean(r["dev_cnn_alone"] for r in runs),
            "per_run": [r["test_cnn_alone"] for r in runs],
            **summary([r["test_cnn_alone"] for r in runs]),
        }
        record["ngrams_alone"] = {
            "per_run": [r["test_ngrams_alone"] for r in runs],
            **summary([r["test_ngrams_alone"] for r in runs]),
        }
    return record


def dev_record(
    dataset: str, mode: str, vectors: str | None, overrides: dict[str, Any], runs: list[dict]
) -> dict[str, Any]:
    """One selection cell: the dev accuracy of the whole network and of the CNN alone."""
    record = {
        "dataset": dataset,
        "candidate": " ".join(f"{k}={v}" for k, v in overrides.items()) or "recipe",
        "mode": mode,
        "vectors": vectors,
        "dev": [100 * r["dev"] for r in runs],
        "seconds_per_epoch": statistics.fmean(r["seconds_per_epoch"] for r in runs),
        "best_epochs": [r["best_epoch"] for r in runs],
        "seconds": [round(r["seconds"]) for r in runs],  # a run's whole training
        "raw": runs,  # per fold and seed, with the n-gram weight chosen on dev
    }
    if all("dev_cnn_alone" in r for r in runs):
        record["dev_cnn_alone"] = [100 * r["dev_cnn_alone"] for r in runs]
    if all("teacher_dev" in r for r in runs):
        record["teacher_dev"] = [100 * r["teacher_dev"] for r in runs]
        record["teacher_seconds"] = [r["teacher_seconds"] for r in runs]
    print(json.dumps({"selection": record}), flush=True)  # one line per cell, for sweeps
    return record


def dev_table(selection: list[dict[str, Any]]) -> str:
    lines = [
        "| candidate | mode | vectors | data set | dev (runs) | dev, CNN alone | s/epoch |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in selection:
        runs = ", ".join(f"{d:.1f}" for d in r["dev"])
        alone = f"{statistics.fmean(r['dev_cnn_alone']):.1f}" if "dev_cnn_alone" in r else "-"
        lines.append(
            f"| {r['candidate']} | {r['mode']} | {r['vectors']} | {r['dataset']} "
            f"| {statistics.fmean(r['dev']):.1f} ({runs}) | {alone} "
            f"| {r['seconds_per_epoch']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data-dir", type=Path, default=DATA_ROOT)
    p.add_argument("--datasets", default="mr,trec,sst2", help=f"comma list of {DATASETS}")
    p.add_argument("--recipe", choices=RECIPES, default="default")
    p.add_argument("--modes", help=f"comma list of {MODES} (default: the recipe's)")
    p.add_argument("--vectors", help="comma list of --embeddings values (default: the recipe's)")
    p.add_argument("--folds", type=int, default=10, help="MR cross-validation folds")
    p.add_argument("--run-folds", type=int, help="train only the first N MR folds")
    p.add_argument(
        "--first-fold",
        type=int,
        default=1,
        help="start at this MR fold (1-based; to split the folds between runs)",
    )
    p.add_argument("--seeds", default="0", help="comma list of model seeds")
    p.add_argument("--threads", type=int, default=2)
    for flag, kind in OVERRIDES.items():
        p.add_argument(flag, type=kind, help="(default: the recipe's)")
    p.add_argument("--no-cnn", action="store_true", help="baselines only")
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument(
        "--dev-only",
        action="store_true",
        help="selection runs: score on dev data only, never read the test split (no baselines)",
    )
    p.add_argument("--json-out", **json_out("text_benchmark"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for name in ("textcnn", "gensim", "sentence_transformers"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if not (args.data_dir / "text").is_dir():
        print(f"skipped: {args.data_dir / 'text'} is absent (pass --data-dir)")
        return 0
    datasets = args.datasets.split(",")
    if bad := [d for d in datasets if d not in DATASETS]:
        p.error(f"unknown datasets {bad}; choose from {DATASETS}")
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    keys = (flag[2:].replace("-", "_") for flag in OVERRIDES)
    overrides = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    base = recipe_options(args.recipe, threads=args.threads, progress=False, **overrides)
    modes = args.modes.split(",") if args.modes else [base.mode]
    vector_sources = args.vectors.split(",") if args.vectors else [base.embeddings]
    records: list[dict[str, Any]] = []
    selection: list[dict[str, Any]] = []
    earlier = saved(args.json_out).get("selection", [])  # dev-only cells of earlier runs
    for dataset in datasets:
        run_folds = min(args.run_folds or args.folds, args.folds)
        work = tasks(dataset, args.data_dir, args.folds, run_folds)
        info = {"dataset": dataset, "folds": args.folds if dataset == "mr" else 1}
        if not (args.no_baselines or args.dev_only):
            embed(work[0].train.texts + work[0].test.texts)  # MR: once, not per fold
            for model in ("nbsvm", "minilm-lr"):
                accs = [run_baseline(model, t, base.tokenizer) for t in work]
                record = {"model": model, "mode": "-", "vectors": "-", "per_run": accs}
                record.update(summary(accs))
                records.append({**info, **record})
                log.info("%s %s %.2f", dataset, model, records[-1]["accuracy"])
        if args.no_cnn:
            continue
        for mode in modes:
            for vectors in vector_sources if mode != "rand" else [None]:
                runs = []
                for seed in seeds:
                    first = args.first_fold - 1 if dataset == "mr" else 0
                    for i, task in enumerate(work[first:], start=first):
                        opts = recipe_options(
                            args.recipe, mode=mode, embeddings=vectors, seed=seed,
                            threads=args.threads, progress=False, **overrides,
                        )  # fmt: skip
                        run = run_cnn(task, opts, args.dev_only)
                        runs.append({"seed": seed, "fold": i if dataset == "mr" else None, **run})
                        shown = json.dumps({k: round(v, 4) for k, v in run.items()})
                        log.info(
                            "%s %s %s seed %d run %d/%d: %s",
                            dataset, mode, vectors, seed, i + 1, len(work), shown,
                        )  # fmt: skip
                        if args.dev_only:
                            continue
                        # written after every run: a long benchmark stopped early keeps its runs
                        name = vectors or f"rand {base.dim}-d"
                        records = [
                            r for r in records if (r["dataset"], r["mode"], r["vectors"]) != (
                                dataset, mode, name)
                        ]  # fmt: skip
                        records.append(cnn_record(info, mode, name, runs, asdict(opts)))
                        save(args.json_out, results=merge(args.json_out, records))
                if args.dev_only:
                    selection.append(dev_record(dataset, mode, vectors, overrides, runs))
                    save(args.json_out, selection=earlier + selection)
    if args.dev_only:
        print(f"\n{args.threads} CPU threads; dev accuracy %, mean over runs (no test data read)\n")
        print(dev_table(selection))
        return 0
    results = merge(args.json_out, records)
    save(args.json_out, results=results)
    print(f"\n{args.threads} CPU threads; test accuracy %, mean ± std (runs)\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

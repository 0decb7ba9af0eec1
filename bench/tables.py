"""The docs' tables, drawn from the committed raw results under ``bench/results/``.

Every table has a name, and README.md and each ``docs/**/*.md`` page hold it between
``<!-- table:NAME -->`` and ``<!-- /table:NAME -->``; ``--write`` rewrites every such block
from the JSON, and ``tests/deploy/test_bench_tables.py`` fails when a block differs from it.
The tables (``TABLES``):

- ``text-accuracy``, ``text-calibration``: ``text_default.json``, every run of the default
  recipe (each MR fold, each TREC and SST-2 seed) with its accuracies, its chosen n-gram
  weight, its temperature and its test calibration before and after, written by
  ``python -m bench.text_benchmark --json-out bench/results/text_default.json``;
- ``serve-ray``: ``serve_ray.json``, Ray Serve beside uvicorn
  (``python -m bench.serve_benchmark --workers '' --ray 1,2 --json-out ...``);
- ``swap``: ``swap_benchmark.json``, version swaps under load on an S3 registry
  (``python -m bench.swap_benchmark``);
- ``distill-dev``: ``distill_dev.json``, the ``--distill`` student's dev selection
  (``python -m bench.distill_select``);
- ``distill-test``: ``distill_benchmark.json``, the default recipe, the sentence term (float32
  and int8) and the student on dev and test, with their training time, throughput and size
  (``python -m bench.distill_benchmark train``, then ``serve``).

    python -m bench.tables            # print every table
    python -m bench.tables --write    # rewrite every marked block in README.md and docs/
    python -m bench.tables --combine mr-1.json mr-2.json st.json   # runs split over processes
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import REPO
from bench.jsonout import RESULTS

TEXT_RESULTS = RESULTS / "text_default.json"
BLOCK = re.compile(r"<!-- table:([\w-]+) -->\n.*?<!-- /table:\1 -->", re.S)
DATASETS = ("mr", "trec", "sst2")
TITLES = {"mr": "MR", "trec": "TREC", "sst2": "SST-2"}
# Kim (2014) Table 2, word2vec GoogleNews 300-d; and this project's targets
KIM = {"non-static": (81.5, 93.6, 87.2), "multichannel": (81.1, 92.2, 88.1)}
TARGETS = {"mr": 81.5, "trec": 93.0, "sst2": 86.0}


def cell(r: dict[str, Any] | None, bold: bool = False) -> str:
    """``mean ± std (runs)`` in %, or ``-`` when the cell was not run."""
    if r is None:
        return "-"
    text = f"{r['accuracy']:.1f}" + (f" ± {r['std']:.1f}" if r["runs"] > 1 else "")
    return (f"**{text}**" if bold else text) + f" ({r['runs']})"


def default_cnn(results: list[dict[str, Any]], dataset: str) -> dict[str, Any] | None:
    """The default recipe's record for ``dataset`` (the only CNN record the file holds)."""
    rows = [r for r in results if r["dataset"] == dataset and r["model"] == "cnn"]
    if len(rows) > 1:
        raise SystemExit(f"{len(rows)} CNN records for {dataset} in the text results; expected one")
    return rows[0] if rows else None


def accuracy_table(results: list[dict[str, Any]]) -> str:
    cnns = [default_cnn(results, d) for d in DATASETS]
    lines = [
        "| Model | MR (10-fold) | TREC | SST-2 | dev (MR / TREC / SST-2) |",
        "|---|---|---|---|---|",
    ]
    devs = " / ".join(f"{r['dev_accuracy']:.1f}" if r else "-" for r in cnns)
    cells = " | ".join(cell(r, bold=True) for r in cnns)
    lines.append(
        f"| **TextCNN, default recipe**: the CNN plus the n-gram term | {cells} | {devs} |"
    )
    for key, title in (
        ("cnn_alone", "the same bundles, the CNN alone (the n-gram weight set to 0)"),
        ("ngrams_alone", "the same bundles, the n-gram term alone (its NBSVM's argmax)"),
    ):
        parts = [r.get(key) if r else None for r in cnns]
        devs = " / ".join(
            f"{p['dev_accuracy']:.1f}" if "dev_accuracy" in (p or {}) else "-" for p in parts
        )
        lines.append(f"| {title} | {' | '.join(cell(p) for p in parts)} | {devs} |")
    for model, title in (("nbsvm", "NBSVM-bi"), ("minilm-lr", "MiniLM sentence embedding + LR")):
        rows = [
            next((r for r in results if r["dataset"] == d and r["model"] == model), None)
            for d in DATASETS
        ]
        if any(rows):
            lines.append(f"| {title} | {' | '.join(cell(r) for r in rows)} | |")
    for mode, figures in KIM.items():
        kim = " | ".join(f"{f:.1f}" for f in figures)
        lines.append(f"| Kim 2014 CNN-{mode} (word2vec 300-d, reported) | {kim} | |")
    targets = " | ".join(f"≥ {TARGETS[d]:.1f}" for d in DATASETS)
    lines.append(f"| targets | {targets} | |")
    return "\n".join(lines)


def _spread(values: list[float], scale: float = 1.0, digits: int = 3) -> str:
    mean = statistics.fmean(values) * scale
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.pstdev(values) * scale:.{digits}f}"


def calibration_table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| Data set (test) | runs | n-gram weight chosen on dev (per run) | temperature "
        "| ECE before | ECE after | NLL before | NLL after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for dataset, title in zip(DATASETS, ("MR (10-fold)", "TREC", "SST-2"), strict=True):
        r = default_cnn(results, dataset)
        if r is None:
            continue
        raw = r["raw"]
        weights = ", ".join(f"{w:g}" for w in r.get("ngram_weights", []))
        values = {k: [run[k] for run in raw] for k in (
            "temperature", "test_ece_before", "test_ece_after", "test_nll_before",
            "test_nll_after",
        )}  # fmt: skip
        lines.append(
            f"| {title} | {len(raw)} | {weights} | {_spread(values['temperature'], digits=2)} "
            f"| {_spread(values['test_ece_before'])} | {_spread(values['test_ece_after'])} "
            f"| {_spread(values['test_nll_before'])} | {_spread(values['test_nll_after'])} |"
        )
    return "\n".join(lines)


def serve_table(report: dict[str, Any]) -> str:
    """``bench.serve_benchmark``'s table of a run's cells (medians over its repeats)."""
    from bench.serve_benchmark import Cell, table  # the benchmark's own table

    return table([Cell(**c) for c in report["cells"]])


def swap_table(report: dict[str, Any]) -> str:
    """One row per swap, then the median swap time and the totals."""
    lines = [
        "| run | versions | requests sent | failed | seconds until every replica serves it "
        "| retrain seconds |",
        "|--:|---|--:|--:|--:|--:|",
    ]
    for i, r in enumerate(report["runs"], 1):
        swap = "never" if r["swap_seconds"] is None else f"{r['swap_seconds']:.2f}"
        lines.append(
            f"| {i} | {r['old_version']} → {r['new_version']} | {r['sent']:,} | {r['failed']} "
            f"| {swap} | {r['retrain_seconds']:.1f} |"
        )
    median = report["median_swap_seconds"]
    median = "-" if median is None else f"{median:.2f}"
    lines.append(
        f"| median ({report['replicas']} replicas) | | {report['total_sent']:,} "
        f"| {report['total_failed']} | {median} | |"
    )
    return "\n".join(lines)


# name -> (its results file under bench/results/, the table drawn from that file's JSON)
CENTRE = "the grid's centre: augment=4, augment_mask=0.1, distill_temperature=1, weight 1"


def distill_table(report: dict[str, Any]) -> str:
    """``bench.distill_select``'s dev runs, per data set: the default recipe, the teacher, then
    each student candidate with its gain over the default and its gap to the teacher."""
    lines = [
        "| data set | model | candidate | dev | CNN alone | vs default | vs teacher | best epoch |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in sorted(report["runs"], key=lambda r: (r["dataset"], r["fold"] or 0, r["seed"])):
        where = run["dataset"] + (f" fold {run['fold']}" if run["fold"] else "")
        where += f" seed {run['seed']}"
        alone = run.get("dev_cnn_alone", "-")
        epoch = f"{run['best_epoch']}/{run['epochs_run']}"
        if run["model"] == "default":
            dev = f"{run['dev']:.2f}"
            lines.append(f"| {where} | default recipe | | {dev} | {alone} | | | {epoch} |")
            continue
        gain = f"{run['dev'] - run['default_dev']:+.2f}" if run.get("default_dev") else "-"
        if run["candidate"] == "defaults":
            lines.append(f"| {where} | teacher | | {run['teacher_dev']:.2f} | | | | |")
        gap = f"{run['dev'] - run['teacher_dev']:+.2f}"
        candidate = CENTRE if run["candidate"] == "defaults" else run["candidate"]
        lines.append(
            f"| {where} | student | {candidate} | {run['dev']:.2f} | {alone} | {gain} "
            f"| {gap} | {epoch} |"
        )
    return "\n".join(lines)


RECIPE_ROWS = {
    "default": "default recipe",
    "encoder": "`--sentence-encoder minilm`, float32 ONNX",
    "encoder-int8": "`--sentence-encoder minilm`, int8 ONNX",
    "student": "`--distill sentence-encoder` (the student)",
}


def _mean_std(values: list[float]) -> str:
    text = f"{statistics.fmean(values):.2f}"
    return text + (f" ± {statistics.pstdev(values):.2f}" if len(values) > 1 else "")


def distill_benchmark_table(report: dict[str, Any]) -> str:
    """``bench.distill_benchmark``'s rows per data set: dev and test accuracy (mean ± std over
    its runs), training seconds (median, and the median of the teacher's share), ``/classify``
    requests/s and its share of the two ceilings (medians over the last serve run's repeats),
    bundle size."""
    served: dict[str, list[float]] = {}
    if report.get("serve"):
        for c in report["serve"][-1]["cells"]:
            served.setdefault(c["model"], []).append(c["rps"])
    rps = {name: statistics.median(values) for name, values in served.items()}
    lines = [
        "| data set | model | runs | dev | test | training s (teacher) | /classify req/s "
        "| of /bench/noop | of bare FastAPI | bundle MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for dataset in DATASETS:
        for row, title in RECIPE_ROWS.items():
            runs = [r for r in report["runs"] if r["dataset"] == dataset and r["row"] == row]
            if not runs:
                continue
            seconds = statistics.median(r["seconds"] for r in runs)
            teacher = [r["teacher_seconds"] / r["seconds"] for r in runs if "teacher_seconds" in r]
            share = f" ({statistics.median(teacher):.0%})" if teacher else ""
            name = f"{dataset}-{row}"
            speed = ["-", "-", "-"]
            if name in rps:
                speed = [f"{rps[name]:,.0f}", f"{rps[name] / rps['ceiling']:.2f}",
                         f"{rps[name] / rps['bare']:.2f}"]  # fmt: skip
            size = statistics.fmean(r["bundle_bytes"] for r in runs) / 2**20
            lines.append(
                f"| {TITLES[dataset]} | {title} | {len(runs)} "
                f"| {_mean_std([r['dev'] for r in runs])} "
                f"| {_mean_std([r['test'] for r in runs])} | {seconds:,.0f}{share} "
                f"| {' | '.join(speed)} | {size:.1f} |"
            )
    return "\n".join(lines)


TABLES: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "text-accuracy": ("text_default.json", lambda report: accuracy_table(report["results"])),
    "text-calibration": (
        "text_default.json",
        lambda report: calibration_table(report["results"]),
    ),
    "serve-ray": ("serve_ray.json", serve_table),
    "swap": ("swap_benchmark.json", swap_table),
    "distill-dev": ("distill_dev.json", distill_table),
    "distill-test": ("distill_benchmark.json", distill_benchmark_table),
}


def load(path: Path = TEXT_RESULTS) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def render(name: str, results: Path = RESULTS) -> str:
    """Table ``name`` drawn from its file in ``results``."""
    if name not in TABLES:
        raise SystemExit(f"no table {name!r}; the tables are {sorted(TABLES)}")
    file, draw = TABLES[name]
    return draw(load(results / file))


def rewrite(text: str, results: Path = RESULTS) -> str:
    """``text`` with every marked block drawn again from the JSON in ``results``."""

    def block(match: re.Match[str]) -> str:
        name = match[1]
        return f"<!-- table:{name} -->\n{render(name, results)}\n<!-- /table:{name} -->"

    return BLOCK.sub(block, text)


def documents() -> list[Path]:
    """The pages that may hold tables: README.md and every Markdown page under docs/."""
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def marked(text: str) -> list[str]:
    """The names of the tables ``text`` holds."""
    return [m[1] for m in BLOCK.finditer(text)]


def _unseeded(options: dict[str, Any]) -> dict[str, Any]:
    """A cell's options but its last run's seed, which parts of one cell may differ in."""
    return {**options, "train": {**options["train"], "seed": None}}


def combine(paths: list[Path]) -> list[dict[str, Any]]:
    """The results of several ``bench.text_benchmark`` files whose CNN cells ran in parts (MR's
    folds split with ``--first-fold``, say) as one: each cell rebuilt from the union of its
    runs, a run present twice kept once; other records as in the last file that has them."""
    from bench import text_benchmark  # torch and the training code: only when combining

    cells: dict[tuple, tuple[dict[str, Any], dict[tuple, dict[str, Any]]]] = {}
    others: dict[tuple, dict[str, Any]] = {}
    for path in paths:
        for r in load(path)["results"]:
            key = (r["dataset"], r["model"], r["mode"], r["vectors"])
            if r["model"] != "cnn":
                others[key] = r
                continue
            first, runs = cells.setdefault(key, (r, {}))
            if _unseeded(r["options"]) != _unseeded(first["options"]):
                raise SystemExit(f"{path}: {key} ran with other options than in {paths[0]}")
            runs.update({(run["seed"], run["fold"]): run for run in r["raw"]})
    out = list(others.values())
    for (dataset, _, mode, vectors), (first, runs) in cells.items():
        info = {"dataset": dataset, "folds": first["folds"]}
        ordered = [runs[k] for k in sorted(runs, key=lambda k: (k[0], k[1] or 0))]
        record = text_benchmark.cnn_record(info, mode, vectors, ordered, first["options"])
        out.append(record)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--write", action="store_true", help="rewrite the marked blocks in place")
    p.add_argument("--results", type=Path, default=RESULTS, help="the folder of the JSON files")
    p.add_argument(
        "--combine",
        type=Path,
        nargs="+",
        help="first write the results folder's text_default.json from these files' runs",
    )
    args = p.parse_args()
    if args.combine:
        out = args.results / TABLES["text-accuracy"][0]
        out.write_text(json.dumps({"results": combine(args.combine)}, indent=2) + "\n")
    if not args.write:
        for name in TABLES:
            print(f"<!-- table:{name} -->\n{render(name, args.results)}\n")
        return 0
    for path in documents():
        text = path.read_text(encoding="utf-8")
        new = rewrite(text, args.results)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"rewrote {path.relative_to(REPO)}: {', '.join(marked(text))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

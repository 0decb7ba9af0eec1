"""The docs' text-accuracy and calibration tables, drawn from the committed raw results.

``bench/text_benchmark.py --json-out bench/results/text_default.json`` writes every run (each
MR fold, each TREC and SST-2 seed) with its accuracies, its chosen n-gram weight, its
temperature and its test calibration before and after; this script turns that file into the
blocks between ``<!-- table:NAME -->`` and ``<!-- /table:NAME -->`` (NAME: ``text-accuracy``,
``text-calibration``) wherever README.md or a page under docs/ holds them, so every figure
there can be checked against the file (``tests/deploy/test_bench_tables.py`` fails when they
differ).

    python bench/tables.py            # print the tables
    python bench/tables.py --write    # update README.md and docs/
    python bench/tables.py --combine mr-1.json mr-2.json st.json   # runs split over processes
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "text_default.json"
DATASETS = ("mr", "trec", "sst2")
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
        raise SystemExit(f"{RESULTS.name}: {len(rows)} CNN records for {dataset}; expected one")
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


def tables(results: list[dict[str, Any]]) -> dict[str, str]:
    """Each block's table by name, as the docs hold it between its markers."""
    return {
        "table:text-accuracy": accuracy_table(results),
        "table:text-calibration": calibration_table(results),
    }


def docs() -> list[Path]:
    """The files that may hold table blocks: README.md and every page under docs/."""
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def replace_tables(page: str, blocks: dict[str, str]) -> str:
    """``page`` with each ``<!-- table:NAME -->`` ... ``<!-- /table:NAME -->`` block redrawn."""
    for name, text in blocks.items():
        start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
        parts = re.split(f"({re.escape(start)}.*?{re.escape(end)})", page, flags=re.S)
        page = "".join(f"{start}\n{text}\n{end}" if p.startswith(start) else p for p in parts)
    return page


def load(path: Path = RESULTS) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["results"]


def _unseeded(options: dict[str, Any]) -> dict[str, Any]:
    """A cell's options but its last run's seed, which parts of one cell may differ in."""
    return {**options, "train": {**options["train"], "seed": None}}


def combine(paths: list[Path]) -> list[dict[str, Any]]:
    """The results of several ``text_benchmark.py`` files whose CNN cells ran in parts (MR's
    folds split with ``--first-fold``, say) as one: each cell rebuilt from the union of its
    runs, a run present twice kept once; other records as in the last file that has them."""
    import text_benchmark  # torch and the training code: only when combining

    cells: dict[tuple, tuple[dict[str, Any], dict[tuple, dict[str, Any]]]] = {}
    others: dict[tuple, dict[str, Any]] = {}
    for path in paths:
        for r in load(path):
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
    p.add_argument("--write", action="store_true", help="update README.md and docs/ in place")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument(
        "--combine",
        type=Path,
        nargs="+",
        help="first write --results from these files' runs (see ``combine``)",
    )
    args = p.parse_args()
    if args.combine:
        results = combine(args.combine)
        args.results.write_text(json.dumps({"results": results}, indent=2) + "\n")
    blocks = tables(load(args.results))
    if not args.write:
        print("\n\n".join(blocks.values()))
        return 0
    for path in docs():
        text = path.read_text(encoding="utf-8")
        if (new := replace_tables(text, blocks)) != text:
            path.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

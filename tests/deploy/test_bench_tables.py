"""The docs' text-accuracy and calibration tables are the committed raw results'."""

from __future__ import annotations

import statistics

from tests.conftest import REPO, bench_module


def load_tables():
    return bench_module("tables")


def test_the_docs_tables_are_drawn_from_the_committed_results() -> None:
    tables = load_tables()
    blocks = tables.tables(tables.load())
    holding = []
    for path in tables.docs():
        text = path.read_text(encoding="utf-8")
        assert tables.replace_tables(text, blocks) == text, (
            f"{path.relative_to(REPO)}: tables differ from bench/results/text_default.json: "
            "run `python bench/tables.py --write`"
        )
        holding += [(path.name, name) for name in blocks if f"<!-- {name} -->" in text]
    # the benchmarks page holds every table, the README the headline accuracy table
    expected = {("benchmarks.md", name) for name in blocks} | {("README.md", "table:text-accuracy")}
    assert expected <= set(holding), f"missing blocks: {sorted(expected - set(holding))}"


def test_each_record_summarises_its_own_runs() -> None:
    """The summaries the tables print are the means of the per-fold and per-seed runs the
    file keeps (at most MR's 10 folds, 3 seeds of TREC and SST-2), each run once."""
    results = load_tables().load()
    for dataset, most in (("mr", 10), ("trec", 3), ("sst2", 3)):
        (r,) = [r for r in results if r["dataset"] == dataset and r["model"] == "cnn"]
        raw = r["raw"]
        assert 0 < len(raw) == r["runs"] <= most
        assert len({(run["seed"], run["fold"]) for run in raw}) == len(raw)
        assert r["accuracy"] == 100 * statistics.fmean(run["test"] for run in raw)
        assert r["cnn_alone"]["per_run"] == [run["test_cnn_alone"] for run in raw]
        assert r["ngrams_alone"]["per_run"] == [run["test_ngrams_alone"] for run in raw]
        assert r["ngram_weights"] == [run["ngram_weight"] for run in raw]
        for run in raw:
            assert {"temperature", "test_ece_before", "test_ece_after"} <= run.keys()

"""The docs' tables are the committed raw results': every ``<!-- table:NAME -->`` block in
README.md and docs/ (and the older text-accuracy block) is what ``bench/tables.py`` draws
from ``bench/results/``."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import pytest

from bench import tables
from bench.jsonout import RESULTS
from tests.conftest import REPO


@pytest.mark.parametrize("doc", tables.documents(), ids=lambda p: p.name)
def test_every_table_in_the_docs_is_drawn_from_the_committed_results(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    assert tables.rewrite(text) == text, (
        f"{doc.name}: the tables {tables.marked(text)} differ from bench/results/: run "
        "`python -m bench.tables --write`"
    )


def test_the_readme_holds_the_text_accuracy_table_and_the_docs_every_table() -> None:
    assert "text-accuracy" in tables.marked((REPO / "README.md").read_text("utf-8"))
    shown = {n for doc in tables.documents() for n in tables.marked(doc.read_text("utf-8"))}
    assert shown == set(tables.TABLES)


def test_every_table_draws_from_a_committed_results_file() -> None:
    for name, (file, _) in tables.TABLES.items():
        assert (RESULTS / file).is_file(), name
        assert tables.render(name).startswith("|"), name


def test_a_block_is_redrawn_from_the_json_and_an_unknown_name_is_refused(tmp_path: Path) -> None:
    """A stale block is rewritten (so the check above fails on it), from the folder's JSON."""
    results = tmp_path / "results"
    shutil.copytree(RESULTS, results)
    swap = json.loads((results / "swap_benchmark.json").read_text())
    swap["median_swap_seconds"] = 123.456
    (results / "swap_benchmark.json").write_text(json.dumps(swap))
    page = "intro\n<!-- table:swap -->\nstale\n<!-- /table:swap -->\nend\n"
    drawn = tables.rewrite(page, results)
    assert drawn != page and drawn.startswith("intro\n<!-- table:swap -->\n| run |")
    assert "| 123.46 |" in drawn and drawn.endswith("<!-- /table:swap -->\nend\n")
    assert tables.rewrite(drawn, results) == drawn
    with pytest.raises(SystemExit, match="no table 'nothing'"):
        tables.rewrite("<!-- table:nothing -->\n<!-- /table:nothing -->", results)


def test_the_swap_table_summarises_its_runs() -> None:
    report = tables.load(RESULTS / "swap_benchmark.json")
    runs = report["runs"]
    assert report["median_swap_seconds"] == statistics.median(r["swap_seconds"] for r in runs)
    assert report["total_sent"] == sum(r["sent"] for r in runs)
    assert report["total_failed"] == sum(r["failed"] for r in runs) == 0
    assert len(tables.render("swap").splitlines()) == 2 + len(runs) + 1


def test_the_serve_table_has_a_row_per_cell_of_its_repeats() -> None:
    cells = tables.load(RESULTS / "serve_ray.json")["cells"]
    keys = {(c["code"], c["endpoint"], c["workers"], c["concurrency"]) for c in cells}
    assert len(tables.render("serve-ray").splitlines()) == 2 + len(keys)


def test_each_record_summarises_its_own_runs() -> None:
    """The summaries the tables print are the means of the per-fold and per-seed runs the
    file keeps (at most MR's 10 folds, 3 seeds of TREC and SST-2), each run once."""
    results = tables.load()["results"]
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


def test_runs_split_over_files_combine_into_the_committed_record(tmp_path: Path) -> None:
    """``--combine``: MR's folds run in two processes give back the record of one run."""
    from bench.text_benchmark import cnn_record

    results = tables.load()["results"]
    (mr,) = [r for r in results if r["dataset"] == "mr" and r["model"] == "cnn"]
    info = {"dataset": "mr", "folds": mr["folds"]}
    half = len(mr["raw"]) // 2
    paths = []
    for i, runs in enumerate((mr["raw"][:half], mr["raw"][half:])):
        part = cnn_record(info, mr["mode"], mr["vectors"], runs, mr["options"])
        paths.append(tmp_path / f"part-{i}.json")
        paths[-1].write_text(json.dumps({"results": [part]}))
    (combined,) = tables.combine(paths)
    assert combined == mr

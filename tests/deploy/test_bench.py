"""Benchmarks and studies: packages run with ``python -m``, each benchmark writes its raw
results under ``bench/results/``; the GPU check parses and asks only for what the CLI, the
service and the benchmarks offer; a selection study reads no test data."""

from __future__ import annotations

import argparse
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import tables
from bench.jsonout import RESULTS, write_json
from bench.ports import free_ports
from service.settings import ENV_PREFIX, Settings
from studies import encoder_layers
from tests.conftest import REPO
from textcnn.cli import build_parser

GPU_CHECK = REPO / "scripts" / "gpu_check.sh"
MODULES = [
    f"{folder}.{path.stem}"
    for folder in ("bench", "studies")
    for path in sorted((REPO / folder).glob("*.py"))
    if path.stem != "__init__"
]
# the benchmarks (not the shared modules nor ``tables``): each writes its raw results
BENCHMARKS = [
    "architectures", "cifar10", "cv_speed", "distill_benchmark", "int8_agreement", "multilabel",
    "onnx_latency", "overload_benchmark", "serve_benchmark", "swap_benchmark", "text_benchmark",
    "text_speed",
]  # fmt: skip


@pytest.mark.parametrize("name", MODULES)
def test_benchmarks_and_studies_import_as_modules_without_path_edits(name: str) -> None:
    """``python -m bench.NAME`` / ``studies.NAME``: plain package imports, no ``sys.path``."""
    path = REPO / f"{name.replace('.', '/')}.py"
    assert "sys.path" not in path.read_text(encoding="utf-8"), path
    module = importlib.import_module(name)
    assert Path(module.__file__).resolve() == path.resolve()


@pytest.mark.parametrize("name", BENCHMARKS)
def test_each_benchmark_writes_its_raw_results_under_bench_results(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every benchmark's ``--json-out`` defaults to ``bench/results/<name>.json``."""
    assert {m.split(".")[1] for m in MODULES if m.startswith("bench.")} >= set(BENCHMARKS)
    module = importlib.import_module(f"bench.{name}")
    monkeypatch.setattr(sys, "argv", [name, "--help"])
    with pytest.raises(SystemExit) as exit_:
        module.main()
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--json-out" in text and f"(default: bench/results/{name}.json)" in text


def test_results_are_written_whole_with_their_folder(tmp_path: Path) -> None:
    path = tmp_path / "new" / "run.json"
    write_json(path, {"path": Path("/x"), "runs": [1, 2]})
    assert json.loads(path.read_text()) == {"path": "/x", "runs": [1, 2]}
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]  # no temporary file left
    assert RESULTS == REPO / "bench" / "results"


def test_free_ports_are_distinct() -> None:
    ports = free_ports(20)
    assert len(set(ports)) == 20 and all(0 < p < 65536 for p in ports)


def script_lines() -> list[str]:
    """The GPU check's lines, continuations joined."""
    return GPU_CHECK.read_text(encoding="utf-8").replace("\\\n", " ").splitlines()


def subcommand_options() -> dict[str, set[str]]:
    """Each ``textcnn`` subcommand's option strings."""
    [commands] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return {name: set(p._option_string_actions) for name, p in commands.choices.items()}


def test_gpu_check_parses() -> None:
    done = subprocess.run(["bash", "-n", str(GPU_CHECK)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_gpu_check_runs_the_steps_no_cpu_run_shows_with_flags_the_cli_has() -> None:
    options = subcommand_options()
    runs = []
    for line in script_lines():
        found = re.search(r"-m textcnn (?:-q )?(\w[\w-]*)(.*)", line)
        if found:
            subcommand, rest = found[1], found[2]
            flags = re.findall(r"(?<![\w-])--[a-z][\w-]*", rest)
            unknown = [f for f in flags if f not in options[subcommand]]
            assert not unknown, f"`textcnn {subcommand}` has no {unknown}: {line.strip()}"
            runs.append((subcommand, set(flags)))
    text = "\n".join(script_lines())
    # the new_run calls add their own flags to the train command of new_run
    calls = re.findall(r"^\s*new_run (\w+) \d+ (.*)$", text, re.M)
    assert {name for name, _ in calls} == {"default", "sentence", "teacher"}
    for _, flags in calls:
        assert set(re.findall(r"--[a-z][\w-]*", flags)) <= options["train"]
    assert "--sentence-encoder minilm" in dict(calls)["sentence"]
    assert "--teacher minilm --teacher-epochs" in dict(calls)["teacher"]
    assert any(s == "serve" and "--registry" in f for s, f in runs)
    assert any(s == "train" and {"--cv", "--cv-parallel"} <= f for s, f in runs)
    assert any(s == "train" and {"--cv", "--recipe"} <= f for s, f in runs)  # Kim's CV, whose
    # order is a variable: both of its values are train's
    orders = set(re.findall(r"parallel=(--[\w-]+)", text))
    assert orders == {"--cv-parallel", "--no-cv-parallel"} and orders <= options["train"]
    assert "TEXTCNN_DEVICE=$DEVICE" in text


def test_gpu_check_names_service_settings_and_benchmark_options_that_exist() -> None:
    text = GPU_CHECK.read_text(encoding="utf-8")
    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    assert set(re.findall(rf"\b({ENV_PREFIX}[A-Z_]+)=", text)) <= fields
    runs = [found for line in script_lines() for found in re.findall(r"-m (bench\.\w+)(.*)", line)]
    assert {module for module, _ in runs} == {"bench.cifar10", "bench.serve_benchmark"}
    for module, rest in runs:
        source = (REPO / f"{module.replace('.', '/')}.py").read_text(encoding="utf-8")
        for option in re.findall(r"(?<![\w-])--[a-z][\w-]*", rest):
            assert f'"{option}"' in source, f"{module} has no {option}"


def test_the_layer_selection_script_offers_no_test_scores(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``studies/encoder_layers.py`` chooses on dev data: test figures are a reporting
    script's."""
    path = REPO / "studies" / "encoder_layers.py"
    monkeypatch.setattr(sys, "argv", [str(path), "--test"])
    with pytest.raises(SystemExit) as exit_:
        encoder_layers.main()
    assert exit_.value.code == 2 and "unrecognized arguments: --test" in capsys.readouterr().err
    assert ".test" not in path.read_text(encoding="utf-8")


def test_text_benchmark_keeps_test_results_and_selection_cells_in_one_file(
    tmp_path: Path,
) -> None:
    """A ``--dev-only`` run adds its cells beside the test results; a rerun cell replaces its
    record by key (data set, model, mode, vectors) and keeps the others."""
    from bench.text_benchmark import merge, save, saved

    path = tmp_path / "text.json"
    first = {"dataset": "mr", "model": "cnn", "mode": "static", "vectors": "v", "runs": 1}
    other = {**first, "dataset": "trec"}
    save(path, results=merge(path, [first, other]))
    save(path, selection=[{"dataset": "sst2", "candidate": "recipe", "raw": []}])
    again = {**first, "runs": 2}
    save(path, results=merge(path, [again]))
    held = saved(path)
    assert held["results"] == [again, other]
    assert held["selection"] == [{"dataset": "sst2", "candidate": "recipe", "raw": []}]


@pytest.mark.parametrize("name", [m for m in MODULES if m.startswith("studies.")])
def test_each_study_states_its_question_date_answer_and_table(name: str) -> None:
    """A finished study's header: ``Study of DATE: QUESTION? Answer: ...`` and its table."""
    doc = " ".join((importlib.import_module(name).__doc__ or "").split())
    assert re.search(r"Study of \d{4}-\d{2}-\d{2}: [^?]+\? Answer: \w", doc), name
    assert re.search(r"\| \|---\|", doc), name


def test_ci_runs_no_benchmark() -> None:
    """CI (``.ci/run`` -> ``scripts/test.sh``) runs ruff and the tests, never a benchmark."""
    for path in (REPO / ".ci" / "run", REPO / "scripts" / "test.sh"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\bbench\b|\bstudies\b|gpu_check", text), path


def test_the_distillation_grid_reads_dev_data_only_and_keeps_every_finished_run(
    tmp_path: Path,
) -> None:
    """``bench/distill_select.py`` scores on dev splits without any test file present, and a
    run it adds is kept, replaced by a rerun of its key, and compared with the default."""
    from bench import distill_select as module  # bench/ is becoming a package

    text = tmp_path / "text"
    text.mkdir()
    for name, n in (("stsa.binary.train", 10), ("stsa.binary.dev", 4), ("TREC.train.all", 40)):
        (text / name).write_text("".join(f"{i % 2} text number {i}\n" for i in range(n)))
    [(fold, train, dev)] = module.splits("sst2", tmp_path, 0, [1])
    assert fold is None and (len(train), len(dev)) == (10, 4)
    [(_, train, dev)] = module.splits("trec", tmp_path, 0, [1])
    assert (len(train), len(dev)) == (36, 4) and not set(train.texts) & set(dev.texts)

    out = tmp_path / "runs.json"
    where = {"dataset": "sst2", "fold": None, "seed": 0}
    default = {**where, "model": "default", "candidate": "defaults", "best_epoch": 4}
    module.add(out, {**default, "dev": 80.0, "epochs_run": 7})
    student = {**where, "model": "student", "candidate": "defaults", "teacher_dev": 85.0}
    module.add(out, {**student, "dev": 81.0, "best_epoch": 3, "epochs_run": 6})
    module.add(out, {**student, "dev": 82.5, "best_epoch": 3, "epochs_run": 6})
    runs = module.load(out)
    assert [r["dev"] for r in runs] == [80.0, 82.5] and runs[1]["default_dev"] == 80.0
    row = f"| student | {tables.CENTRE} | 82.50 | - | +2.50 | -2.50 | 3/6 |"
    assert row in tables.distill_table({"runs": runs})


def test_the_recipe_table_averages_runs_and_shares_of_both_ceilings(tmp_path: Path) -> None:
    """``bench.distill_benchmark``: a rerun of a row replaces it; the table shows mean ± std,
    the teacher's share of the student's time and the medians of the last serve run."""
    from bench import distill_benchmark as module

    out = tmp_path / "runs.json"
    where = {"dataset": "trec", "fold": None, "threads": 1}
    same = lambda a, b: module.key(a) == module.key(b)  # noqa: E731
    for seed, dev, test in ((0, 90.0, 91.0), (1, 92.0, 93.0)):
        module.add(
            out,
            "runs",
            [
                {
                    **where,
                    "seed": seed,
                    "row": "default",
                    "dev": dev,
                    "test": test,
                    "seconds": 100.0,
                    "bundle_bytes": 2**20,
                }
            ],
            same,
        )
    student = {**where, "seed": 0, "row": "student", "dev": 1.0, "test": 1.0, "seconds": 400.0,
               "teacher_seconds": 300.0, "bundle_bytes": 2**21}  # fmt: skip
    module.add(out, "runs", [student], same)
    module.add(out, "runs", [{**student, "dev": 91.0, "test": 92.0}], same)
    cells = [{"model": m, "rps": r} for m, r in
             (("bare", 1000), ("bare", 900), ("bare", 2000), ("ceiling", 500), ("ceiling", 400),
              ("ceiling", 600), ("trec-student", 250), ("trec-student", 200),
              ("trec-student", 300))]  # fmt: skip
    module.add(out, "serve", [{"cells": [{"model": "bare", "rps": 1.0}]}], lambda a, b: True)
    module.add(out, "serve", [{"cells": cells}], lambda a, b: True)
    report = module.load(out)
    assert len(report["runs"]) == 3 and len(report["serve"]) == 1
    table = tables.distill_benchmark_table(report).splitlines()
    assert table[2] == (
        "| TREC | default recipe | 2 | 91.00 ± 1.00 | 92.00 ± 1.00 | 100 | - | - | - | 1.0 |"
    )
    assert table[3] == (
        "| TREC | `--distill sentence-encoder` (the student) | 1 | 91.00 | 92.00 | 400 (75%) "
        "| 250 | 0.50 | 0.25 | 2.0 |"
    )

"""Bench scripts: the GPU check parses and asks only for what the CLI and service offer; a
selection script reads no test data."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from service.settings import ENV_PREFIX, Settings
from tests.conftest import REPO, bench_module
from textcnn.cli import build_parser

GPU_CHECK = REPO / "bench" / "gpu_check.sh"


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


def test_gpu_check_names_service_settings_and_script_options_that_exist() -> None:
    text = GPU_CHECK.read_text(encoding="utf-8")
    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    assert set(re.findall(rf"\b({ENV_PREFIX}[A-Z_]+)=", text)) <= fields
    for line in script_lines():
        for script, rest in re.findall(r"(bench/\w+\.py)(.*)", line):
            source = (REPO / script).read_text(encoding="utf-8")
            for option in re.findall(r"(?<![\w-])--[a-z][\w-]*", rest):
                assert f'"{option}"' in source, f"{script} has no {option}"


def test_the_layer_selection_script_offers_no_test_scores(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``bench/encoder_layers.py`` chooses on dev data: test figures are a reporting script's."""
    path = REPO / "bench" / "encoder_layers.py"
    module = bench_module("encoder_layers")
    monkeypatch.setattr(sys, "argv", [str(path), "--test"])
    with pytest.raises(SystemExit) as exit_:
        module.main()
    assert exit_.value.code == 2 and "unrecognized arguments: --test" in capsys.readouterr().err
    assert ".test" not in path.read_text(encoding="utf-8")


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
    assert "| student | defaults | 82.50 | - | +2.50 | -2.50 | 3/6 |" in module.table(runs)

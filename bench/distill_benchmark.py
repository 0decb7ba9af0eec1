"""The default recipe, ``--sentence-encoder minilm`` (float32 and int8 ONNX) and its distilled
student, side by side: dev and test accuracy, training time, bundle size (``train``), and
``/classify`` throughput against two ceilings (``serve``).

``train``: per data set, seed (and MR fold) and in one process, with the splits of
``bench.text_benchmark`` (MR: seeded stratified 10-fold CV, dev a 10 % holdout of each
training split; TREC: a 10 % holdout; SST-2: its dev set):

- ``default``: the default recipe;
- ``encoder``: the recipe with ``--sentence-encoder minilm``, its encoder in float32 ONNX;
- ``encoder-int8``: that same model with its encoder run as dynamic int8 ONNX (what
  ``--sentence-int8`` keeps where its dev accuracy is within 0.2 points of float32's), scored
  on dev and test again; its training time is the float32 model's plus that dev check;
- ``student``: ``--distill sentence-encoder`` with the library's defaults; its teacher (the
  ``encoder`` row's model, fitted again) is part of its time (``teacher_seconds``): nothing is
  remembered between rows, and the teacher-label cache is the run's own (``--work``), so
  every student fits its teacher and labels its texts.

Every run is written to ``--json-out`` as it ends, and a rerun skips the runs already there;
each bundle is kept under ``--work`` for ``serve``.

``serve``: for one seed's bundles (``--serve-seed``; MR: fold 0's), ``textcnn serve`` (uvicorn,
uvloop, httptools, ``--workers``) answers ``/classify`` with 200 test sentences of 15 to 25
tokens (MR: of fold 0's test split), cycled, and the sentence-embedding cache off (every
routed text is encoded: the worst case), beside two ceilings: the app's own ``/bench/noop``
(its middleware, a constant) and a bare FastAPI app outside the project (``bench.bare_app``:
one route returning a constant), served by the same uvicorn settings. Cells are interleaved;
each figure is the median of ``--repeats`` rounds.

    python -m bench.distill_benchmark train --datasets trec --seeds 0,1,2 --threads 1
    python -m bench.distill_benchmark train --datasets mr --seeds 0 --mr-folds 0,1,2,3,4
    python -m bench.distill_benchmark serve --datasets sst2,trec --repeats 3
    python -m bench.distill_benchmark table
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from bench import DATA_ROOT
from bench.datasets import DATASETS, tasks
from bench.distill_select import locked
from bench.jsonout import command, json_out
from bench.ports import free_port
from bench.serve_benchmark import (
    Server,
    Target,
    build_registry,
    get,
    lua_script,
    measure,
    sentences,
    server,
    wrk,
)
from textcnn.cli.options import int_list
from textcnn.engine.bundle import Bundle
from textcnn.engine.predictor import Predictor
from textcnn.text.data import TextDataset
from textcnn.text.recipes import recipe_options
from textcnn.text.sentence_term import INT8_TOLERANCE
from textcnn.text.train import train_text

log = logging.getLogger("distill_benchmark")
OPTIONS: dict[str, dict[str, Any]] = {
    "default": {},
    "encoder": {"sentence_encoder": "minilm"},
    "student": {"distill": "sentence-encoder"},
}
TEST_FILES = {"sst2": "stsa.binary.test", "trec": "TREC.test.all"}


def accuracy(bundle: Bundle, data: TextDataset) -> float:
    predicted = Predictor(bundle).predict(data.texts)
    return statistics.fmean(p.label == y for p, y in zip(predicted, data.labels, strict=True))


def bundle_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def record(bundle: Bundle, seconds: float, path: Path) -> dict[str, Any]:
    """A trained row's figures; its bundle saved to ``path``."""
    shutil.rmtree(path, ignore_errors=True)
    bundle.save_atomic(path)
    out = {
        "dev": round(100 * bundle.metrics["dev_accuracy"], 2),
        "test": round(100 * bundle.metrics["test_accuracy"], 2),
        "seconds": round(seconds, 1),
        "best_epoch": bundle.training["result"]["best_epoch"],
        "bundle_bytes": bundle_bytes(path),
        "bundle": str(path),
    }
    term = bundle.training.get("sentence_encoder")
    if term:
        out["gate"], out["dev_encoded"] = term["gate"], term["dev_encoded"]
    taught = bundle.training.get("distill")
    if taught:
        out["teacher_dev"] = round(100 * taught["teacher_dev"], 2)
        out["teacher_seconds"] = taught["teacher_seconds"]
        out["teacher_rows"], out["teacher_cached"] = taught["rows"], taught["cached"]
    return out


def int8_row(bundle: Bundle, dev: TextDataset, test: TextDataset, f32: dict[str, Any],
             path: Path) -> dict[str, Any]:  # fmt: skip
    """The float32 encoder model with its encoder as int8 ONNX, scored again."""
    started = time.perf_counter()
    bundle.model.input_term.runtime = "onnx-int8"
    bundle.model_config.sentence_runtime = "onnx-int8"
    dev_accuracy = 100 * accuracy(bundle, dev)
    check = time.perf_counter() - started
    out = {
        "dev": round(dev_accuracy, 2),
        "test": round(100 * accuracy(bundle, test), 2),
        "seconds": round(f32["seconds"] + check, 1),
        "kept": dev_accuracy >= f32["dev"] - 100 * INT8_TOLERANCE,
    }
    shutil.rmtree(path, ignore_errors=True)
    bundle.save_atomic(path)
    return {**out, "bundle_bytes": bundle_bytes(path), "bundle": str(path)}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {"runs": [], "serve": []}


def key(run: dict[str, Any]) -> tuple[Any, ...]:
    return run["dataset"], run["fold"], run["seed"], run["row"]


def add(path: Path, part: str, items: list[dict[str, Any]], same: Any) -> None:
    """``items`` added to ``part`` of the file, replacing those ``same`` matches; written to a
    temporary file and renamed, under a lock (one process per data set may share it)."""
    with locked(path):
        data = load(path)
        data[part] = [r for r in data.get(part, []) if not any(same(r, i) for i in items)]
        data[part] += items
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, path)


def train_rows(args: argparse.Namespace) -> None:
    # a cache of its own: no teacher's labels from an earlier run, so every student fits one
    os.environ["TEXTCNN_CACHE"] = str(args.work / "cache")
    torch.set_num_threads(args.threads)
    for dataset in args.datasets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            for fold, task in enumerate(tasks(dataset, args.data_dir, 10, 10)):
                if dataset == "mr" and fold not in args.mr_folds:
                    continue
                train, dev = task.with_dev(seed)
                where = {"dataset": dataset, "fold": fold if dataset == "mr" else None,
                         "seed": seed, "threads": args.threads}  # fmt: skip
                here = (dataset, where["fold"], seed)
                done = {r["row"] for r in load(args.json_out)["runs"] if key(r)[:3] == here}
                work = args.work / f"{dataset}-f{fold}-s{seed}"
                # each row on its own, nothing remembered between them: the student's time
                # includes its teacher's whole fit, the sentence embeddings of its texts too
                for row in ("default", "encoder", "student"):
                    if row in done and (row != "encoder" or "encoder-int8" in done):
                        continue
                    opts = recipe_options(seed=seed, threads=args.threads, progress=False,
                                          **OPTIONS[row])  # fmt: skip
                    started = time.perf_counter()
                    bundle = train_text(train, opts, dev=dev, test=task.test)
                    seconds = time.perf_counter() - started
                    runs = [{**where, "row": row, **record(bundle, seconds, work / row)}]
                    if row == "encoder":
                        runs.append({**where, "row": "encoder-int8", **int8_row(
                            bundle, dev, task.test, runs[0], work / "encoder-int8")})  # fmt: skip
                    add(args.json_out, "runs", runs, lambda a, b: key(a) == key(b))
                    for run in runs:
                        log.info("%s", json.dumps(run))


@contextlib.contextmanager
def bare_app(workers: int, log_path: Path) -> Iterator[Server]:
    """``bench.bare_app`` under uvicorn with ``textcnn serve``'s settings (uvloop, httptools,
    no access log, ``workers`` workers)."""
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), "--loop", "uvloop", "--http",
           "httptools", "--no-access-log", "--log-level", "warning"]  # fmt: skip
    repo = Path(__file__).resolve().parents[1]
    with log_path.open("w") as out:
        process = subprocess.Popen(cmd, cwd=repo, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                if get(f"{url}/health")[0] == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the bare app did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield Server(url, process.pid, workers)
    finally:
        process.terminate()
        process.wait(30)


def test_file(dataset: str, root: Path, work: Path) -> Path:
    """The test split served models have not seen: MR's fold 0, written out; else the file."""
    if dataset != "mr":
        return root / "text" / TEST_FILES[dataset]
    test = tasks("mr", root, 10, 1)[0].test
    path = work / "mr-fold0-test.txt"
    path.write_text("".join(f"{y} {t}\n" for y, t in zip(test.labels, test.texts, strict=True)))
    return path


def serve_rows(args: argparse.Namespace) -> None:
    """``/classify`` of each row's bundle (seed ``--serve-seed``, MR fold 0) against
    ``/bench/noop`` and the bare app: requests/s, the median of interleaved repeats."""
    work = args.work / "serve"
    work.mkdir(parents=True, exist_ok=True)
    runs = [r for r in load(args.json_out)["runs"] if r["seed"] == args.serve_seed]
    models: dict[str, Path] = {}
    texts: dict[str, list[str]] = {}
    for dataset in args.datasets.split(","):
        test = sentences(test_file(dataset, args.data_dir, work), "label-text")
        for r in runs:
            if r["dataset"] == dataset and r["fold"] in (None, 0):
                models[f"{dataset}-{r['row']}"] = Path(r["bundle"])
                texts[f"{dataset}-{r['row']}"] = test
    if not models:
        sys.exit(f"no bundles of seed {args.serve_seed} in {args.json_out}: run `train` first")
    registry = build_registry(work, models)
    any_texts = next(iter(texts.values()))
    targets = {
        "ceiling": Target("ceiling", lua_script(work, "ceiling", [json.dumps({"text": t})
                                                                   for t in any_texts])),
        **{m: Target(m, lua_script(work, m, [json.dumps({"text": t, "model": m}) for t in ts]))
           for m, ts in texts.items()},
    }  # fmt: skip
    env = {"TEXTCNN_SENTENCE_CACHE_MIB": "0"}
    cells = []
    with (
        server(registry, args.workers, env, work / "server.log") as srv,
        bare_app(args.workers, work / "bare.log") as bare,
    ):
        plan = [(srv, "ceiling"), *((srv, m) for m in models)]
        bare_target = Target("bare", targets["ceiling"].script)
        for target_server, name in plan:  # warm every worker's models
            wrk(target_server.url + targets[name].endpoint, targets[name].script, 8, 2)
        wrk(bare.url + "/classify", bare_target.script, 8, 2)
        for repeat in range(args.repeats):
            cell = measure(bare, bare_target, "bare", args.concurrency, args.duration,
                           repeat=repeat)  # fmt: skip
            cells.append({"model": "bare", "repeat": repeat, "rps": cell.rps,
                          "p50_ms": cell.p50_ms, "errors": cell.errors})  # fmt: skip
            for target_server, name in plan:
                cell = measure(target_server, targets[name], "batching", args.concurrency,
                               args.duration, repeat=repeat)  # fmt: skip
                cells.append({"model": name, "repeat": repeat, "rps": cell.rps,
                              "p50_ms": cell.p50_ms, "errors": cell.errors})  # fmt: skip
    entry = {
        "command": command("bench.distill_benchmark"),
        "seed": args.serve_seed,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "duration": args.duration,
        "repeats": args.repeats,
        "load_at_start": os.getloadavg()[0],
        "cells": cells,
    }
    add(args.json_out, "serve", [entry], lambda a, b: True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("phase", choices=["train", "serve", "table"])
    p.add_argument("--data-dir", type=Path, default=DATA_ROOT)
    p.add_argument("--datasets", default="sst2,trec", help=f"comma list of {DATASETS}")
    p.add_argument("--seeds", default="0,1,2", help="comma list of seeds (train)")
    p.add_argument("--mr-folds", type=int_list, default=list(range(10)),
                   help="MR folds to train, 0-based (default: all 10)")  # fmt: skip
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--work", type=Path, default=Path("/tmp/textcnn-distill-bench"))
    p.add_argument("--serve-seed", type=int, default=0, help="whose bundles to serve")
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers (serve)")
    p.add_argument("--concurrency", type=int, default=64, help="wrk connections (serve)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per cell (serve)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds (serve)")
    p.add_argument("--json-out", **json_out("distill_benchmark"))
    args = p.parse_args(argv)
    if args.phase == "table":
        from bench.tables import distill_benchmark_table

        print(distill_benchmark_table(load(args.json_out)))
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    (train_rows if args.phase == "train" else serve_rows)(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

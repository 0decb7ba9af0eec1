"""Predictor (PyTorch) vs ONNX Runtime (convolutions, and a token table) on one batch of
sentences, and the files' sizes.

Trains the demo text model (support intents, non-static GloVe-50d, a few epochs: latency does
not depend on accuracy) unless ``--model`` names a bundle, exports it with ``export_onnx``,
then times both on the first ``--batch`` test sentences, interleaved so a noisy machine
slows both alike: end to end (raw texts to probabilities, tokenising included) and the
forward pass alone (encoded ids in), and the forward pass's own thread CPU while another
thread runs Python, as the event loop does beside the service's inference thread (each torch
operator hands that thread the GIL and waits to get it back; ``session.run`` does so once).
Each figure is the median over ``--repeats`` of the mean of ``--calls`` calls.

    python -m bench.onnx_latency --threads 1 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench import REPO
from bench.jsonout import command, json_out, write_json
from bench.timing import ms_per_call
from textcnn.engine.bundle import WEIGHTS_FILE, load_bundle
from textcnn.engine.predictor import Predictor
from textcnn.engine.trainer import TrainConfig
from textcnn.export import export_onnx
from textcnn.export.consumer import ExportedModel
from textcnn.text.data import read_text_dataset
from textcnn.text.train import TextTrainOptions, train_text

DEMO = REPO / "data" / "demo"


def demo_bundle(epochs: int, threads: int) -> Any:
    train = TrainConfig(epochs=epochs, progress=False, threads=threads, seed=0)
    opts = TextTrainOptions(mode="non-static", embeddings="glove-6b-50d", train=train)
    return train_text(read_text_dataset(DEMO / "support_train.jsonl"), opts)


def thread_cpu_beside_python(fn: Callable[[], Any], calls: int) -> float:
    """This thread's CPU ms per call while a second thread keeps running Python."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(200))

    other = threading.Thread(target=spin)
    other.start()
    try:
        fn()
        start = time.thread_time()
        for _ in range(calls):
            fn()
        return (time.thread_time() - start) / calls * 1000
    finally:
        stop.set()
        other.join()


def main() -> None:
    p = argparse.ArgumentParser(description=" ".join(__doc__.splitlines()[:2]))
    p.add_argument("--model", type=Path, help="a text bundle (default: train the demo model)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="torch and onnxruntime threads")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--epochs", type=int, default=3, help="demo training epochs")
    p.add_argument("--json-out", **json_out("onnx_latency"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    bundle = load_bundle(args.model) if args.model else demo_bundle(args.epochs, args.threads)
    texts = read_text_dataset(DEMO / "support_test.jsonl").texts[: args.batch]
    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = bundle.save(Path(tmp) / "bundle")
        export = export_onnx(bundle, Path(tmp) / "model.onnx")
        tabled = export_onnx(bundle, Path(tmp) / "table.onnx", token_table=True)
        sizes = {
            "bundle weights (model.safetensors)": (bundle_dir / WEIGHTS_FILE).stat().st_size,
            "bundle vocab.json": (bundle_dir / "vocab.json").stat().st_size,
            "ONNX network (model.onnx)": export.onnx_path.stat().st_size,
            "ONNX network, token table (--token-table)": tabled.onnx_path.stat().st_size,
            "contract (model.json)": export.contract_path.stat().st_size,
        }
        predictor = Predictor(bundle)
        onnx = ExportedModel(export.contract_path, threads=args.threads)
        table = ExportedModel(tabled.contract_path, threads=args.threads)
        ids = predictor.encode(texts)
        ids_np = ids.numpy()
        for exported in (onnx, table):
            np.testing.assert_allclose(
                exported.predict_proba(texts), predictor.predict_proba(texts).numpy(), atol=1e-4
            )
        cases = {
            "end to end: Predictor.predict_proba": lambda: predictor.predict_proba(texts),
            "end to end: ExportedModel.predict_proba": lambda: onnx.predict_proba(texts),
            "forward: Predictor.logits_from_tensor": lambda: predictor.logits_from_tensor(ids),
            "forward: onnxruntime session.run": lambda: onnx.run(ids_np),
            "forward: onnxruntime session.run, token table": lambda: table.run(ids_np),
        }
        busy = {
            "forward beside busy Python, thread CPU: Predictor": cases[
                "forward: Predictor.logits_from_tensor"
            ],
            "forward beside busy Python, thread CPU: onnxruntime": cases[
                "forward: onnxruntime session.run"
            ],
            "forward beside busy Python, thread CPU: onnxruntime, token table": cases[
                "forward: onnxruntime session.run, token table"
            ],
        }
        times: dict[str, list[float]] = {name: [] for name in [*cases, *busy]}
        for _ in range(args.repeats):
            for name, fn in cases.items():
                times[name].append(ms_per_call(fn, args.calls))
            for name, fn in busy.items():
                times[name].append(thread_cpu_beside_python(fn, args.calls))

    print(f"{len(texts)} sentences, {ids.shape[1]} positions, {args.threads} thread(s); "
          f"max probability difference {export.max_difference:.1e}")  # fmt: skip
    print("| what | ms per batch (median) | min | max |")
    print("|---|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {min(values):.2f} | {max(values):.2f} |")
    print("\n| file | bytes |")
    print("|---|---|")
    for name, size in sizes.items():
        print(f"| {name} | {size:,} |")
    medians = {name: statistics.median(values) for name, values in times.items()}
    record = {"command": command("bench.onnx_latency"), "args": vars(args), "ms": medians}
    write_json(args.json_out, {**record, "ms_per_repeat": times, "bytes": sizes})


if __name__ == "__main__":
    main()

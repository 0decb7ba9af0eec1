"""What ``TEXTCNN_PRECISION=int8`` costs in accuracy and buys in speed, per text model.

For each ``--model BUNDLE=TEST_FILE`` pair: the served forward pass in ONNX Runtime as float32
and as int8 (``export_onnx(int8=True)``) over the labelled test file: test accuracy of each,
how many labels agree, the largest and mean probability difference, how far an int8
explanation's contributions plus bias miss its logit (the worst of the first 300 texts:
explanations use float32 feature maps, the label and logit the int8 forward's; in float32
the gap is rounding); then the forward pass of
one batch of ``--batch`` test texts, ms (median of ``--repeats`` interleaved rounds of
``--calls`` calls; 1 thread, as a serving worker runs it).

    python -m bench.int8_agreement --model models/sst2=stsa.binary.test \\
        --model models/trec=TREC.test.all --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from bench.jsonout import command, json_out, write_json
from bench.timing import ms_per_call
from textcnn.engine.bundle import load_bundle
from textcnn.engine.predictor import Predictor
from textcnn.export.runtime import onnx_forward
from textcnn.text.data import read_text_dataset
from textcnn.text.explain import explain


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", required=True, help="BUNDLE=TEST_FILE")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--calls", type=int, default=50)
    p.add_argument("--json-out", **json_out("int8_agreement"))
    args = p.parse_args()
    torch.set_num_threads(1)
    rows, records = [], []
    for spec in args.model:
        bundle_dir, test_file = spec.split("=", 1)
        bundle = load_bundle(bundle_dir)
        data = read_text_dataset(test_file, on_bad_lines="skip")
        gold = torch.tensor([bundle.labels.index(y) for y in data.labels])
        with tempfile.TemporaryDirectory() as cache:
            forwards = {
                "fp32": onnx_forward(bundle, cache=Path(cache)),
                "int8": onnx_forward(bundle, cache=Path(cache), int8=True),
            }
            predictors = {k: Predictor(bundle, runtime=f) for k, f in forwards.items()}
            proba = {k: p.predict_proba(data.texts) for k, p in predictors.items()}
            gap = max(
                abs(e.bias + sum(n.contribution for n in e.ngrams) - e.logit)
                for e in explain(predictors["int8"], data.texts[:300], top=None)
            )
            x = bundle.processor.encode(data.texts[: args.batch])
            times: dict[str, list[float]] = {k: [] for k in forwards}
            for f in forwards.values():
                ms_per_call(lambda f=f, x=x: f(x), 5)  # warm
            for _ in range(args.repeats):
                for k, f in forwards.items():
                    times[k].append(ms_per_call(lambda f=f, x=x: f(x), args.calls, warm=False))
        accuracy = {k: float((p.argmax(1) == gold).float().mean()) for k, p in proba.items()}
        diff = (proba["int8"] - proba["fp32"]).abs()
        agree = float((proba["int8"].argmax(1) == proba["fp32"].argmax(1)).float().mean())
        fp32_ms, int8_ms = (statistics.median(times[k]) for k in ("fp32", "int8"))
        records.append(
            {
                "model": bundle_dir,
                "test": test_file,
                "texts": len(gold),
                "accuracy": accuracy,
                "same_label": agree,
                "max_prob_diff": float(diff.max()),
                "mean_prob_diff": float(diff.mean()),
                "explanation_gap": gap,
                "ms": times,  # every round's, per precision
            }
        )
        rows.append(
            f"| {Path(bundle_dir).name} | {Path(test_file).name} ({len(gold)}) "
            f"| {100 * accuracy['fp32']:.2f} | {100 * accuracy['int8']:.2f} | {100 * agree:.2f} "
            f"| {float(diff.max()):.4f} | {float(diff.mean()):.1e} | {gap:.3f} "
            f"| {fp32_ms:.2f} | {int8_ms:.2f} | {fp32_ms / int8_ms:.2f}x |"
        )
    print(
        "| model | test set (texts) | fp32 accuracy % | int8 accuracy % | same label % "
        "| max prob diff | mean prob diff | explanation gap "
        f"| fp32 ms / {args.batch} texts | int8 ms | speed-up |"
    )
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    print("\n".join(rows))
    print(f"\n1 thread; forward times: median of {args.repeats} interleaved rounds")
    report = {"command": command("bench.int8_agreement"), "batch": args.batch}
    write_json(args.json_out, {**report, "calls": args.calls, "models": records})


if __name__ == "__main__":
    main()

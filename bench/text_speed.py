"""CPU seconds per epoch on MR: the project's trainer beside a plain PyTorch Kim CNN.

The reference is the textbook implementation: every sentence padded to the longest in the
data set (plus ``max_width - 1`` zeros each side, as Kim's code does), a bank of ``Conv1d``,
ReLU, max over time, dropout, a max-norm linear layer, dense ``torch.optim.Adadelta``
(rho 0.95, eps 1e-6), batch 50, ``torch.set_flush_denormal(True)``. Both train on the same
90% of MR and evaluate the other 10% after every epoch (inside the timed epoch).

    python -m bench.text_speed --threads 2 --epochs 4

Configurations, run interleaved so that a noisy machine slows both sides alike:
GloVe-50d non-static, 300-d rand, and the reference's rand without flush-denormal (1 epoch).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench import DATA_ROOT
from bench.jsonout import command, json_out, write_json
from textcnn.engine.splits import dev_split
from textcnn.engine.trainer import TrainConfig
from textcnn.text.data import TextDataset, read_text_dataset
from textcnn.text.embeddings import embedding_table, load_vectors
from textcnn.text.tokenize import kim_tokens
from textcnn.text.train import TextTrainOptions, train_text

WIDTHS = (3, 4, 5)
MAPS = 100


class KimCNN(nn.Module):
    """Plain Kim (2014) CNN over pre-padded id tensors ``[B, T]``."""

    def __init__(self, vocab: int, dim: int, classes: int, table: torch.Tensor | None) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        if table is None:
            nn.init.uniform_(self.embed.weight, -0.25, 0.25)
        else:
            self.embed.weight.data.copy_(table)
        with torch.no_grad():
            self.embed.weight[0].zero_()
        self.convs = nn.ModuleList(nn.Conv1d(dim, MAPS, w) for w in WIDTHS)
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(MAPS * len(WIDTHS), classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids).transpose(1, 2)
        h = torch.cat([F.relu(conv(x)).amax(dim=-1) for conv in self.convs], dim=1)
        return self.fc(self.dropout(h))


def pad_all(tokens: list[list[str]], stoi: dict[str, int]) -> torch.Tensor:
    """Whole-dataset padding: ``max_width - 1`` zeros, the sentence, zeros to a fixed width."""
    pad = max(WIDTHS) - 1
    width = max(len(t) for t in tokens) + 2 * pad
    ids = torch.zeros(len(tokens), width, dtype=torch.long)
    for row, words in enumerate(tokens):
        ids[row, pad : pad + len(words)] = torch.tensor([stoi[w] for w in words], dtype=torch.long)
    return ids


def reference_epochs(
    train: TextDataset,
    dev: TextDataset,
    mode: str,
    vectors: Any,
    flush_denormal: bool,
    seed: int,
) -> Iterator[tuple[float, float]]:
    """Train epoch after epoch, yielding wall and CPU seconds (train pass plus dev accuracy)."""
    torch.manual_seed(seed)
    train_tokens = [kim_tokens(t) for t in train.texts]
    dev_tokens = [kim_tokens(t) for t in dev.texts]
    itos = ["<pad>", *dict.fromkeys(w for words in train_tokens + dev_tokens for w in words)]
    stoi = {w: i for i, w in enumerate(itos)}
    labels = sorted(set(train.labels))
    y = torch.tensor([labels.index(label) for label in train.labels])
    y_dev = torch.tensor([labels.index(label) for label in dev.labels])
    x, x_dev = pad_all(train_tokens, stoi), pad_all(dev_tokens, stoi)
    table = None
    if mode != "rand":
        table = torch.from_numpy(embedding_table(vectors, itos, seed, special=1)[0])
    dim = 300 if table is None else table.shape[1]
    model = KimCNN(len(itos), dim, len(labels), table)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-6)
    while True:
        torch.set_flush_denormal(flush_denormal)
        start, cpu = time.perf_counter(), time.process_time()
        model.train()
        order = torch.randperm(len(y))
        for i in range(0, len(y), 50):
            idx = order[i : i + 50]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                model.fc.weight.copy_(torch.renorm(model.fc.weight, 2, 0, 3.0))
        model.eval()
        with torch.no_grad():
            (model(x_dev).argmax(1) == y_dev).float().mean().item()
        yield time.perf_counter() - start, time.process_time() - cpu


def ours_epochs(
    data: TextDataset, mode: str, epochs: int, vectors: Any, threads: int, seed: int
) -> list[tuple[float, float]]:
    """Wall (fit's own timing) and CPU seconds of each epoch of ``train_text``."""
    opts = TextTrainOptions(
        mode=mode,
        embeddings="glove-6b-50d" if mode != "rand" else None,
        dim=300,
        train=TrainConfig(epochs=epochs, threads=threads, progress=False, seed=seed),
    )
    marks = [time.process_time()]  # the first epoch's CPU time includes the setup
    bundle = train_text(
        data,
        opts,
        vectors=vectors if mode != "rand" else None,
        on_epoch=lambda record: marks.append(time.process_time()),
    )
    wall = [r["seconds"] for r in bundle.training["result"]["history"]]
    return list(zip(wall, np.diff(marks).tolist(), strict=True))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, default=DATA_ROOT)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--epochs", type=int, default=4, help="epochs per configuration (the first not counted)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--noflush-epochs", type=int, default=1, help="epochs of the no-flush run (last timed)"
    )
    p.add_argument("--json-out", **json_out("text_speed"))
    args = p.parse_args(argv)
    mr = args.data_dir / "text" / "rt-polarity.all"
    if not mr.is_file():
        print(f"skipped: {mr} is absent (pass --data-dir to ../shared/datasets)")
        return 0
    logging.basicConfig(level=logging.ERROR)
    torch.set_num_threads(args.threads)
    data = read_text_dataset(mr)
    train, dev = dev_split(data, 0.1, args.seed)
    try:
        glove = load_vectors("glove-6b-50d")
    except Exception as exc:  # the optional package may be missing
        print(f"glove-6b-50d unavailable ({exc}); timing rand only")
        glove = None
    runs: dict[str, list[tuple[float, float]]] = {}
    plan = [("non-static", "GloVe-50d non-static")] if glove is not None else []
    plan.append(("rand", "300-d rand"))
    for mode, name in plan:
        # Epoch by epoch in turn, so that a busy spell of a shared machine hits both sides.
        reference = reference_epochs(train, dev, mode, glove, True, args.seed)
        runs[f"{name}|reference"], runs[f"{name}|ours"] = [], []
        for _ in range(args.epochs):
            runs[f"{name}|reference"].append(next(reference))
            runs[f"{name}|ours"] += ours_epochs(data, mode, 1, glove, args.threads, args.seed)
    noflush = "300-d rand, reference without flush-denormal"
    reference = reference_epochs(train, dev, "rand", None, False, args.seed)
    runs[noflush] = [next(reference) for _ in range(args.noflush_epochs)]
    torch.set_flush_denormal(True)

    def stats(times: list[tuple[float, float]]) -> dict[str, float]:
        """Fastest and median wall, median CPU seconds; the first (warm-up) epoch left out."""
        kept = times[1:] if len(times) > 1 else times
        wall, cpu = [t[0] for t in kept], [t[1] for t in kept]
        return {"wall_min": min(wall), "wall_median": statistics.median(wall),
                "cpu_median": statistics.median(cpu)}  # fmt: skip

    rows = []
    print(f"\nMR, {len(train)} train / {len(dev)} dev, batch 50, {args.threads} CPU threads,")
    print(f"{args.epochs} epochs a configuration, alternating; the first one not counted\n")
    print(
        "| configuration | reference s/epoch: fastest, median (CPU s) "
        "| ours s/epoch: fastest, median (CPU s) | ours / reference: fastest (CPU) |"
    )
    print("| --- | --- | --- | --- |")
    for _, name in plan:
        ref, ours = stats(runs[f"{name}|reference"]), stats(runs[f"{name}|ours"])
        rows.append({"configuration": name, "reference": ref, "ours": ours})
        print(
            f"| {name} | {ref['wall_min']:.2f}, {ref['wall_median']:.2f} ({ref['cpu_median']:.1f})"
            f" | {ours['wall_min']:.2f}, {ours['wall_median']:.2f} ({ours['cpu_median']:.1f})"
            f" | {ours['wall_min'] / ref['wall_min']:.2f}"
            f" ({ours['cpu_median'] / ref['cpu_median']:.2f}) |"
        )
    slow = {"wall": runs[noflush][-1][0], "cpu": runs[noflush][-1][1]}
    rows.append({"configuration": noflush, "reference": slow})
    print(
        f"| {noflush} (epoch {args.noflush_epochs}) | {slow['wall']:.2f} ({slow['cpu']:.1f}) | - "
        f"| {slow['wall'] / stats(runs['300-d rand|reference'])['wall_min']:.1f}x the flushed "
        "reference |"
    )
    print(
        "\nWithout flush-denormal, Adadelta accumulators of rarely seen words decay into"
        "\ndenormal floats; the slow-down grows with training (--noflush-epochs N times epoch N)."
    )
    report = {"command": command("bench.text_speed"), "rows": rows}
    write_json(args.json_out, {**report, "epochs": runs})  # every epoch's wall and CPU s
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

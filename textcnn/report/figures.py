"""The report's figures as PNG bytes, drawn with matplotlib's object API on the Agg canvas.

No ``pyplot``: its global figure state is not thread-safe, and the service draws reports in
worker threads.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

DPI = 100
ANNOTATE_UP_TO = 20  # classes; beyond this the confusion cells carry no counts


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def confusion_figure(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> bytes:
    """Rows true labels, columns predicted; colour is the share of the row, text the count."""
    n = len(labels)
    side = min(12.0, 2.5 + 0.45 * n)
    figure = Figure(figsize=(side + 1.0, side))
    ax = figure.add_subplot()
    shares = [[c / max(1, sum(row)) for c in row] for row in matrix]
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    if n <= ANNOTATE_UP_TO:
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                colour = "white" if shares[i][j] > 0.5 else "black"
                ax.text(j, i, str(count), ha="center", va="center", color=colour, fontsize=9)
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true label")
    ax.set_title("Confusion matrix")
    return _png(figure)


def reliability_figure(calibration: dict[str, Any]) -> bytes:
    """Accuracy against mean confidence per bin, the diagonal of perfect calibration, and
    how many examples fall in each bin."""
    bins = calibration["bins"]
    figure = Figure(figsize=(5.5, 5.5))
    ax, counts = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    width = bins[0]["upper"] - bins[0]["lower"]
    lowers = [b["lower"] for b in bins]
    accuracy = [b.get("accuracy", 0.0) for b in bins]
    gaps = [b.get("confidence", 0.0) - b.get("accuracy", 0.0) for b in bins]
    ax.bar(lowers, accuracy, width=width, align="edge", color="#3b75af", label="accuracy")
    ax.bar(
        lowers,
        gaps,
        bottom=accuracy,
        width=width,
        align="edge",
        fill=False,
        edgecolor="#d62728",
        hatch="//",
        label="gap to mean confidence",
    )
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy")
    ax.set_title(f"Reliability diagram (ECE {calibration['ece']:.4f})")
    ax.legend(loc="upper left", fontsize=8)
    counts.bar(lowers, [b["count"] for b in bins], width=width, align="edge", color="grey")
    counts.set(xlabel="confidence of the predicted label", ylabel="examples")
    return _png(figure)


def training_figure(history: Sequence[dict[str, Any]], best_epoch: int | None) -> bytes:
    """Training loss, and train and dev accuracy, per epoch; the kept epoch marked."""
    epochs = [h["epoch"] for h in history]
    figure = Figure(figsize=(9, 3.5))
    loss_ax, acc_ax = figure.subplots(1, 2)
    loss_ax.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train loss")
    loss_ax.set(xlabel="epoch", ylabel="loss", title="Training loss")
    acc_ax.plot(epochs, [h["train_accuracy"] for h in history], marker="o", label="train")
    if any("dev_accuracy" in h for h in history):
        dev = [(h["epoch"], h["dev_accuracy"]) for h in history if "dev_accuracy" in h]
        acc_ax.plot(*zip(*dev, strict=True), marker="o", label="dev")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for ax in (loss_ax, acc_ax):
        if best_epoch in epochs:
            ax.axvline(best_epoch, color="grey", linestyle=":", label=f"kept (epoch {best_epoch})")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    return _png(figure)

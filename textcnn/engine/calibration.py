"""Temperature scaling (Guo et al. 2017): one divisor of the logits, fitted on dev data.

A model's summed logits (the CNN's plus its weighted n-gram and sentence terms) are a product
of experts that nothing scales, so their softmax is not a probability a user can threshold
on. Dividing the logits by one temperature, chosen to minimise the dev data's negative
log-likelihood, fixes the scale without moving any argmax: accuracy is unchanged.
``calibration`` measures how well scores are calibrated: reliability bins and the expected
calibration error.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

# the temperatures a fit may return: beyond them the dev data are separable (NLL falls
# forever as T -> 0) or carry no signal (T -> infinity), and a bound is as good as any
BOUNDS = (0.05, 20.0)
BINS = 10  # equal-width confidence bins of the reliability diagram


def calibration(confidence: torch.Tensor, correct: torch.Tensor, bins: int = BINS) -> dict:
    """Reliability bins of the top-label confidence and the expected calibration error:
    the count-weighted mean gap between each bin's accuracy and its mean confidence."""
    edges = torch.linspace(0, 1, bins + 1)
    index = torch.bucketize(confidence, edges[1:-1])  # bins (lower, upper]; 0 joins the first
    rows, ece = [], 0.0
    for b in range(bins):
        mask = index == b
        n = int(mask.sum())
        row: dict[str, Any] = {
            "lower": round(float(edges[b]), 4),
            "upper": round(float(edges[b + 1]), 4),
            "count": n,
        }
        if n:
            row["confidence"] = float(confidence[mask].mean())
            row["accuracy"] = float(correct[mask].float().mean())
            ece += n / len(confidence) * abs(row["accuracy"] - row["confidence"])
        rows.append(row)
    return {"bins": rows, "ece": ece}


def nll(logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the class ``targets`` under ``softmax(logits / T)``."""
    return float(F.cross_entropy(logits.double() / temperature, targets.long()))


def fit_temperature(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """The temperature that minimises ``nll`` on ``[N, C]`` ``logits`` with class
    ``targets`` (L-BFGS on log T, clamped to ``BOUNDS``).

    1 where the data cannot say: none, or no mistake among them (the NLL then falls as T
    goes to 0, and a fit would make every later mistake as confident as can be)."""
    logits, targets = logits.detach().double().cpu(), targets.long().cpu()
    if len(logits) == 0 or bool((logits.argmax(dim=1) == targets).all()):
        return 1.0
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [log_t], lr=1.0, max_iter=100, tolerance_grad=1e-9, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), targets)
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    temperature = math.exp(float(log_t.detach()))
    if not math.isfinite(temperature):
        return 1.0
    temperature = min(max(temperature, BOUNDS[0]), BOUNDS[1])
    # never worse than the logits as they are, whatever the optimiser did
    return temperature if nll(logits, targets, temperature) <= nll(logits, targets) else 1.0

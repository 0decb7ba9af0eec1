"""Device choice and process-wide numeric settings."""

from __future__ import annotations

import torch

from textcnn.errors import TextCNNError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TextCNNError("`device` cuda was asked for but no CUDA GPU is available")
    return device


def configure_cpu(threads: int | None = None) -> None:
    """Flush denormals (a 4-8x slow-down on CPU otherwise) and cap the thread count."""
    torch.set_flush_denormal(True)
    if threads:
        torch.set_num_threads(threads)

"""Device choice and process-wide numeric settings."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from textcnn.errors import TextCNNError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


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


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of training steps, or None for fp32.

    ``auto`` is bf16 on a CUDA GPU that supports it, fp16 (with loss scaling) on older GPUs,
    and fp32 on the CPU; ``bf16`` and ``fp16`` are honoured on any device (on the CPU, to run
    the GPU's code path).
    """
    if precision == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return DTYPES.get(precision)


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """TF32 for float32 matrix products and cuDNN convolutions while inside (CUDA only; the
    previous settings, which evaluation and serving use, come back on leaving)."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn

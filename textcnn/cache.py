"""Where textcnn caches derived data (decoded images, encoder word vectors, teacher logits)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$TEXTCNN_CACHE``, by default ``~/.cache/textcnn``."""
    return Path(os.environ.get("TEXTCNN_CACHE") or Path.home() / ".cache" / "textcnn")


def sync_rename(tmp: Path, path: Path) -> None:
    """Sync ``tmp`` to disk, then rename it to ``path``: a killed run leaves no half file."""
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)

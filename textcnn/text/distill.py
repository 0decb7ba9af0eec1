"""The accurate ensemble distilled into the served network (``--distill sentence-encoder``).

Why: the CNN with its n-gram scores and the gated sentence-encoder term is the most accurate
model textcnn trains, but every text the term scores costs an encoder forward at serving time.
Its soft labels, on the training texts and on augmented copies of them (Tang et al. 2019),
carry part of what it knows into a fresh CNN with n-gram scores, the student, which serves at
the default recipe's cost: its bundle has no sentence term and no encoder is loaded.

The teacher is the run's own recipe with ``sentence_encoder="minilm"``, fitted on the training
split and chosen on the dev split as ``train_text`` does. Its logits are cached on disk
(``$TEXTCNN_CACHE/distill``), one file per teacher, keyed by its settings and its training
and dev data, each row by a hash of the text it labels: a rerun, another student setting or
more augmented copies reuse what is there, and a run that finds every text fits no teacher
and encodes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textcnn.cache import cache_root, sync_rename
from textcnn.engine.bundle import Bundle
from textcnn.engine.trainer import predict_logits
from textcnn.models.token_ids import PAD_ID
from textcnn.text.data import TextDataset
from textcnn.text.nbsvm import unweighted_scores
from textcnn.text.options import TextTrainOptions
from textcnn.text.teacher import MASK

log = logging.getLogger(__name__)
# what the teacher's key leaves out: settings that change where or how fast it runs, not it,
# and the student's own (the teacher makes no augmented copies and has no soft labels), so
# that another student setting reuses the teacher's labels
_RUNTIME = ("threads", "progress", "device", "compile", "distill_weight")
_STUDENT = ("augment_mask", "augment_window", "distill_temperature")


@dataclass(frozen=True)
class Row:
    """A text the teacher labels: its cache key, the network's tokens, the encoder's text."""

    key: str
    tokens: list[str]
    text: str


def rows(
    texts: Sequence[str], tokens: Sequence[list[str]], extra: Sequence[list[str]]
) -> list[Row]:
    """The training texts (the encoder reads them as written) and their augmented copies
    (read as their tokens, a masked word as the encoder's ``[MASK]``)."""
    out = [Row("t" + text, list(words), text) for text, words in zip(texts, tokens, strict=True)]
    for words in extra:
        shown = " ".join("[MASK]" if w == MASK else w for w in words)
        out.append(Row("a" + "\x1f".join(words), list(words), shown))
    return out


def teacher_options(opts: TextTrainOptions) -> TextTrainOptions:
    """The teacher's options: the run's own, with the gated sentence term and no distillation."""
    return replace(opts, distill=None, sentence_encoder="minilm", augment=0, teacher=None)


def teacher_key(opts: TextTrainOptions, train: TextDataset, dev: TextDataset) -> str:
    """A hash of what the teacher is fitted from: its settings, training and dev data."""
    settings = asdict(teacher_options(opts))
    settings["labels"] = "logits less n-gram scores"  # labels of other meanings never match
    for name in _RUNTIME:
        settings["train"].pop(name, None)
    for name in _STUDENT:
        settings.pop(name, None)
    key = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for data in (train, dev):
        key.update(b"\x02")
        for text, label in zip(data.texts, data.labels, strict=True):
            key.update(f"{label}\x1f{text}\n".encode())
    return key.hexdigest()[:24]


@torch.no_grad()
def ensemble_logits(bundle: Bundle, batch: Sequence[Row]) -> torch.Tensor:
    """``[N, C]``: what the teacher knows beyond n-gram scores: its whole logits (the network's
    plus its gated sentence term, the texts it routes encoded in one call) less its weighted
    n-gram scores. The student has n-gram scores of its own, fitted on the same texts and
    weighed on dev after its network: a network that learnt them as well would count them twice.
    """
    model = bundle.model.eval()
    x = bundle.processor.encode_tokens([r.tokens for r in batch])
    network = predict_logits(model, x, lengths=(x != PAD_ID).sum(dim=1)).cpu().float()
    term = model.input_term
    logits = network if term is None else network + term([r.text for r in batch], network)
    side = model.side
    if side is not None and side.weight.item():
        weight = side.weight.item()
        logits = logits - weight * unweighted_scores(side, x).float()
        side.weight.fill_(weight)
    return logits


def teacher_labels(
    key: str,
    batch: Sequence[Row],
    num_classes: int,
    fit: Callable[[], Bundle],
) -> tuple[torch.Tensor, dict[str, Any]]:
    """The teacher's logits ``[len(batch), C]``, from the cache where it has them; the rest
    from the teacher that ``fit`` returns (fitted only if a row is missing). Also returns what
    to record: the teacher's dev accuracy, its seconds, how many rows the cache had."""
    path = cache_root() / "distill" / f"{key}.safetensors"
    known, meta = _read(path, num_classes)
    digests = [_digest(r.key) for r in batch]
    missing = [i for i, d in enumerate(digests) if d not in known]
    record = {"teacher": key, "rows": len(batch), "cached": len(batch) - len(missing), **meta}
    if missing:
        started = time.perf_counter()
        teacher = fit()
        logits = ensemble_logits(teacher, [batch[i] for i in missing])
        seconds = time.perf_counter() - started
        for i, row in zip(missing, logits, strict=True):
            known[digests[i]] = row
        metric = next(k for k in teacher.metrics if k.startswith("dev_"))
        meta = {
            "teacher_dev": round(float(teacher.metrics[metric]), 5),
            "teacher_seconds": round(float(meta.get("teacher_seconds", 0)) + seconds, 1),
            "teacher_sentence_encoder": teacher.training.get("sentence_encoder", {}),
        }
        record.update(meta)
        _write(path, known, meta)
        log.info("teacher fitted, %d texts labelled in %.0f s", len(missing), seconds)
    else:
        log.info("teacher labels of all %d texts from the cache (%s)", len(batch), path.name)
    return torch.stack([known[d] for d in digests]), record


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()[:16]


def _read(path: Path, num_classes: int) -> tuple[dict[bytes, torch.Tensor], dict[str, Any]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            digests, logits = fh.get_tensor("digests"), fh.get_tensor("logits")
            meta = json.loads((fh.metadata() or {}).get("record", "{}"))
    except Exception:  # absent or damaged: label again
        return {}, {}
    if logits.dim() != 2 or logits.shape[1] != num_classes or len(digests) != len(logits):
        return {}, {}
    return {bytes(d.tolist()): row for d, row in zip(digests, logits, strict=True)}, meta


def _write(path: Path, known: dict[bytes, torch.Tensor], meta: dict[str, Any]) -> None:
    """Written to a temporary file, then synced and renamed into place."""
    from safetensors.torch import save_file

    digests = np.frombuffer(b"".join(known), dtype=np.uint8).reshape(len(known), 16)
    tensors = {
        "digests": torch.from_numpy(digests.copy()),
        "logits": torch.stack(list(known.values())).float().contiguous(),
    }
    tmp = path.with_name(f".{uuid.uuid4().hex}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(tmp), metadata={"record": json.dumps(meta)})
        sync_rename(tmp, path)
    except OSError as exc:
        log.warning("cannot cache teacher labels in %s (%s): not cached", path.parent, exc)
        tmp.unlink(missing_ok=True)

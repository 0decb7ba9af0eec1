"""Model bundles: ``config.json`` + processor files + ``model.safetensors``; never a pickle.

The same format serves every modality: ``config.json`` names the modality (whose processor
class the modality registered), the architecture (from the model registry), its
config, the input processor's settings and the labels.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from textcnn.errors import BundleError
from textcnn.models import create_model, model_entry
from textcnn.version import __version__

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "textcnn-bundle"
FORMAT_VERSION = 1


_PROCESSORS: dict[str, type] = {}


def register_processor(modality: str, processor: type) -> None:
    """Let ``load_bundle`` read bundles of ``modality`` (``register_modality`` calls this)."""
    _PROCESSORS[modality] = processor


def processor_class(modality: str) -> type:
    if modality not in _PROCESSORS:
        raise BundleError(f"unknown modality {modality!r}")
    return _PROCESSORS[modality]


def library_versions() -> dict[str, str]:
    import gensim
    import numpy

    return {
        "textcnn": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "gensim": gensim.__version__,
        "python": platform.python_version(),
    }


@dataclass
class Bundle:
    """A trained model with everything needed to use it on raw inputs."""

    model: nn.Module
    arch: str
    model_config: Any
    processor: Any
    labels: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    data_fingerprint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def modality(self) -> str:
        return self.processor.modality

    @property
    def multi_label(self) -> bool:
        """Whether the model scores each label with its own sigmoid (``config.json``'s
        top-level ``multi_label``; absent in single-label bundles)."""
        return bool(self.extra.get("multi_label", False))

    @property
    def thresholds(self) -> list[float] | None:
        """A multi-label model's decision threshold per label (``config.json``)."""
        return self.extra.get("thresholds") if self.multi_label else None

    @property
    def temperature(self) -> float:
        """What a single-label model divides its logits by before the softmax
        (``config.json``'s ``temperature``, fitted on dev data: ``engine.calibration``);
        1 for bundles that record none and for multi-label models."""
        return 1.0 if self.multi_label else float(self.extra.get("temperature", 1.0))

    def set_temperature(self, temperature: float) -> None:
        if self.multi_label:
            raise ValueError("multi-label models keep their thresholds, not a temperature")
        if not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"a temperature must be a positive number, not {temperature}")
        self.extra["temperature"] = float(temperature)

    def set_multi_label(self, thresholds: list[float]) -> None:
        """Mark the bundle multi-label, with one decision threshold per label."""
        if len(thresholds) != len(self.labels):
            raise ValueError(f"{len(thresholds)} thresholds for {len(self.labels)} labels")
        self.extra.update(multi_label=True, thresholds=[float(t) for t in thresholds])

    def config_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "modality": self.modality,
            "arch": self.arch,
            "model": asdict(self.model_config),
            "processor": self.processor.to_config(),
            "labels": self.labels,
            "metrics": self.metrics,
            "training": self.training,
            "data_fingerprint": self.data_fingerprint,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": library_versions(),
            **self.extra,
        }

    def save(self, directory: str | Path) -> Path:
        """Write the bundle into ``directory`` (created if needed)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.processor.save(directory)
        state = {k: v.detach().contiguous().cpu() for k, v in self.model.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_FILE), metadata={"format": FORMAT})
        (directory / CONFIG_FILE).write_text(json.dumps(self.config_dict(), indent=2) + "\n")
        return directory

    def save_atomic(self, directory: str | Path) -> Path:
        """Write next to ``directory`` then swap it in, so a crash leaves the old bundle whole.

        ``directory`` must be absent, empty or a bundle (see ``check_replaceable``).
        """
        directory = check_replaceable(directory).absolute()
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        tmp.chmod(0o755)
        self.save(tmp)
        for path in tmp.iterdir():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
        old = None
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
            directory.rename(old)
        tmp.rename(directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return directory


def check_replaceable(directory: str | Path) -> Path:
    """``directory`` if a bundle may be written there: absent, empty, or a bundle to replace.

    Anything else (a registry, a source tree, ``.``) is refused rather than overwritten.
    """
    directory = Path(directory)
    if not directory.exists():
        return directory
    if not directory.is_dir():
        raise BundleError(f"{directory} exists and is not a directory; choose another one")
    if any(directory.iterdir()):
        try:
            read_config(directory)
        except BundleError:
            raise BundleError(
                f"{directory} exists and is not a model bundle; refusing to overwrite it "
                "(choose an empty or new directory)"
            ) from None
    return directory


def read_config(directory: str | Path) -> dict[str, Any]:
    directory = Path(directory)
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise BundleError(f"{directory}: not a model bundle (no {CONFIG_FILE})")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: invalid JSON ({exc})") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise BundleError(f"{path}: not a {FORMAT} config")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise BundleError(
            f"{path}: bundle format {config['format_version']} is newer than this textcnn "
            f"reads ({FORMAT_VERSION}); upgrade textcnn"
        )
    return config


def load_bundle(directory: str | Path, device: str | torch.device = "cpu") -> Bundle:
    """Load a bundle written by ``Bundle.save``; every inconsistency is a ``BundleError``."""
    directory = Path(directory)
    config = read_config(directory)
    try:
        entry = model_entry(config["arch"])
        model_config = entry.config(**config["model"])
        processor = processor_class(config["modality"]).load(directory, config["processor"])
        labels = [str(label) for label in config["labels"]]
        model = create_model(config["arch"], model_config)
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{directory / CONFIG_FILE}: inconsistent config ({exc})") from exc
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise BundleError(f"{weights}: missing")
    try:
        state = load_file(str(weights), device=str(device))
    except (SafetensorError, OSError, ValueError) as exc:
        raise BundleError(f"{weights}: unreadable safetensors file ({exc})") from exc
    thresholds = config.get("thresholds")
    if config.get("multi_label") and (
        not isinstance(thresholds, list)
        or len(thresholds) != len(labels)
        or not all(isinstance(t, int | float) and 0 <= t <= 1 for t in thresholds)
    ):
        raise BundleError(f"{directory / CONFIG_FILE}: multi_label needs a threshold per label")
    temperature = config.get("temperature", 1.0)
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not math.isfinite(temperature)
        or temperature <= 0
    ):
        raise BundleError(f"{directory / CONFIG_FILE}: temperature must be a positive number")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BundleError(f"{weights}: weights do not match the config ({exc})") from exc
    model.to(device).eval()
    known = {
        "format",
        "format_version",
        "modality",
        "arch",
        "model",
        "processor",
        "labels",
        "metrics",
        "training",
        "data_fingerprint",
        "created",
        "versions",
    }
    return Bundle(
        model=model,
        arch=config["arch"],
        model_config=model_config,
        processor=processor,
        labels=labels,
        metrics=config.get("metrics") or {},
        training=config.get("training") or {},
        data_fingerprint=config.get("data_fingerprint"),
        extra={k: v for k, v in config.items() if k not in known},
    )

"""Where served models come from: versions in the model store, or plain bundle directories."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from service.settings import Settings
from textcnn.engine.bundle import CONFIG_FILE, Bundle, load_bundle
from textcnn.store import ModelStore, open_store


class ModelSource(Protocol):
    label: str

    def current(self) -> str | None: ...

    def load(self, version: str, device: str) -> Bundle: ...


@functools.lru_cache(maxsize=8)
def registry_store(location: str) -> ModelStore:
    """The store at ``location``, opened once: an S3 store keeps the pointers' ETags, so a
    poll that finds nothing new transfers nothing."""
    return open_store(location)


@dataclass
class RegistrySource:
    """A model in the registry: its pointer names the version; loading verifies checksums."""

    location: str
    name: str
    label: str = "registry"

    def current(self) -> str | None:
        return registry_store(self.location).current(self.name)

    def load(self, version: str, device: str) -> Bundle:
        return registry_store(self.location).load_bundle(self.name, version, device)


@dataclass
class BundleSource:
    """A plain bundle directory; its version is a digest of its config and its files' stats."""

    path: Path
    label: str = "bundle"  # what /models shows: never the path

    def current(self) -> str:
        digest = hashlib.sha256((self.path / CONFIG_FILE).read_bytes())
        for file in sorted(self.path.iterdir()):
            stat = file.stat()
            digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        return f"bundle-{digest.hexdigest()[:12]}"

    def load(self, version: str, device: str) -> Bundle:
        return load_bundle(self.path, device)


def configured_sources(s: Settings) -> dict[str, ModelSource | None]:
    """The models to serve by name: each one's source, or None when none has it."""
    names = list(s.models or [])
    if not s.models:
        if s.registry is not None:
            names += registry_store(s.registry).names()
        names += [n for n in s.bundles if n not in names]
    sources: dict[str, ModelSource | None] = {}
    for name in names:
        if name in s.bundles:
            sources[name] = BundleSource(Path(s.bundles[name]))
        elif s.registry is not None:
            sources[name] = RegistrySource(s.registry, name)
        else:
            sources[name] = None
    return sources

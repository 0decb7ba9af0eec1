"""What every model store shares: names, manifests and their verification, the pointer's
history, and the operations built on a backend's few primitives (``ModelStore``).

A backend (``LocalStore``: a directory; ``S3Store``: a bucket prefix) says how to list
versions, read a manifest and the pointer, claim and write a version, move the pointer and
lock; publishing, promotion, rollback and pruning are written once, here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from textcnn.engine.bundle import Bundle, load_bundle
from textcnn.engine.predictor import Predictor
from textcnn.errors import TextCNNError

MARKER = "registry.json"
MANIFEST = "manifest.json"
POINTER = "current.json"
FORMAT = "textcnn-registry"
HISTORY_LIMIT = 100
KEEP = 10  # versions kept per model after publishing, by default
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
VERSION_RE = re.compile(r"v[1-9][0-9]*")


class StoreError(TextCNNError):
    """A registry, model or version that is missing, busy or fails verification."""


class VersionRefused(StoreError):
    """A version whose files do not match its manifest: it is never served."""


class StoreConflict(StoreError):
    """Another writer moved the pointer (or claimed the lease) first."""


class StoreUnreachable(StoreError):
    """The registry cannot be read at all: an endpoint that does not answer, or refused
    credentials."""


@dataclass
class VersionInfo:
    name: str
    version: str
    location: str  # where the version lives: a directory, or an s3:// prefix
    manifest: dict[str, Any]
    current: bool = False

    def summary(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "name": self.name,
            "version": self.version,
            "current": self.current,
            "created": m.get("created"),
            "parent": m.get("parent"),
            "modality": m.get("modality"),
            "data_fingerprint": m.get("data_fingerprint"),
            "metrics": m.get("metrics", {}),
        }


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def version_number(version: str) -> int:
    if not VERSION_RE.fullmatch(version):
        raise StoreError(f"not a version id: {version!r} (versions look like v1, v2, ...)")
    return int(version[1:])


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name) or name == MARKER:
        raise StoreError(
            f"invalid model name {name!r}: letters, digits, '.', '_' or '-' (at most 64), "
            "starting with a letter or digit"
        )
    return name


def parse_json(data: bytes | str, where: str, what: str) -> Any:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{where}: corrupt {what} ({exc})") from exc


def json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2) + "\n").encode()


def stage_bundle(tmp: Path, bundle: Bundle, extra_files: dict[str, str] | None) -> dict[str, str]:
    """Write ``bundle`` (and ``extra_files``: name -> text) into ``tmp``; their sha256s."""
    bundle.save(tmp)
    for filename, text in (extra_files or {}).items():
        (tmp / filename).write_text(text, encoding="utf-8")
    return {
        file.relative_to(tmp).as_posix(): sha256_file(file)
        for file in sorted(p for p in tmp.rglob("*") if p.is_file())
    }


def new_manifest(
    name: str, version: str, bundle: Bundle, parent: str | None, files: dict[str, str]
) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "parent": parent,
        "modality": bundle.modality,
        "arch": bundle.arch,
        "labels": bundle.labels,
        "data_fingerprint": bundle.data_fingerprint,
        "metrics": {k: v for k, v in bundle.metrics.items() if not isinstance(v, dict)},
        "files": files,
    }


def check_listing(present: set[str], manifest: dict[str, Any], label: str, where: str) -> None:
    """The files of a version (``present``, the manifest aside) are those its manifest lists.
    ``where`` prefixes file names in errors."""
    listed = manifest.get("files") or {}
    missing = sorted(set(listed) - present)
    if missing:
        raise VersionRefused(f"{where}/{missing[0]}: missing from {label}; version refused")
    unlisted = sorted(present - set(listed))
    if unlisted:
        raise VersionRefused(f"{where}/{unlisted[0]}: not in the manifest; {label} refused")
    if not listed:
        raise VersionRefused(f"{where}/{MANIFEST}: lists no files; {label} refused")


def verify_files(directory: Path, manifest: dict[str, Any], label: str, where: str) -> None:
    """Check the files in ``directory`` against ``manifest``: every listed file present with
    its sha256, nothing unlisted."""
    present = {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}
    check_listing(present - {MANIFEST}, manifest, label, where)
    for filename, expected in sorted(manifest["files"].items()):
        if sha256_file(directory / filename) != expected:
            raise VersionRefused(
                f"{where}/{filename}: checksum mismatch (tampered or truncated); {label} refused"
            )


def moved_pointer(pointer: dict[str, Any], version: str, history: list[str]) -> dict[str, Any]:
    """The pointer naming ``version`` with ``history``; it remembers the version it replaced."""
    return {
        "version": version,
        "history": history[-HISTORY_LIMIT:],
        "replaced": pointer.get("version"),
        "updated": time.time(),
    }


def made_current(pointer: dict[str, Any], version: str) -> dict[str, Any]:
    history = [v for v in pointer.get("history", []) if v != version]
    return moved_pointer(pointer, version, [*history, version])


class ModelStore(ABC):
    """Versions of each named model: publish, verify, load, promote, roll back, prune.

    Readers (service replicas) never lock: they poll ``current(name)``. Writers hold
    ``lock(name)`` for short writes and ``training(name)`` for a whole retrain.
    """

    location: str  # the registry as the user named it (a directory or s3://bucket/prefix)

    # -- what a backend provides -------------------------------------------------------
    @abstractmethod
    def names(self) -> list[str]:
        """The models with at least one version directory."""

    @abstractmethod
    def _has_model(self, name: str) -> bool: ...

    @abstractmethod
    def _version_ids(self, name: str) -> list[str]:
        """The complete versions of ``name`` (their manifest written), in any order."""

    @abstractmethod
    def _read_manifest(self, name: str, version: str) -> dict[str, Any] | None:
        """The manifest of ``version``, or None when it has none (absent or incomplete)."""

    @abstractmethod
    def pointer(self, name: str) -> dict[str, Any]:
        """The pointer of ``name``: ``{"version": None, "history": []}`` before any."""

    @abstractmethod
    def version_location(self, name: str, version: str) -> str:
        """Where ``version`` lives, for messages and ``models show``."""

    @abstractmethod
    def verified_dir(self, name: str, version: str, manifest: dict[str, Any]) -> Path:
        """A local directory holding ``version``'s files, checked against ``manifest``."""

    @abstractmethod
    def _staging_dir(self, name: str) -> Path:
        """A new empty directory to write a version into before it is stored."""

    @abstractmethod
    def _store_version(
        self, name: str, staged: Path, manifest_for: Callable[[str], dict[str, Any]]
    ) -> str:
        """Claim the next version id, store ``staged``'s files under it and, last, the
        manifest ``manifest_for(version)``; returns the version id."""

    @abstractmethod
    def _write_pointer(self, name: str, pointer: dict[str, Any]) -> None:
        """Replace the pointer (inside ``lock(name)``): on S3, only if no one else moved it
        since the lock was taken."""

    @abstractmethod
    def _delete_version(self, name: str, version: str) -> None: ...

    @abstractmethod
    def lock(self, name: str) -> contextlib.AbstractContextManager[None]:
        """The write lock of ``name``, held briefly around writes."""

    @abstractmethod
    def training(self, name: str) -> contextlib.AbstractContextManager[None]:
        """Held for a whole retrain of ``name``: a second retrain fails at once."""

    # -- reading -----------------------------------------------------------------------
    def require_model(self, name: str) -> None:
        if not self._has_model(check_name(name)):
            known = ", ".join(self.names()) or "none"
            raise StoreError(f"unknown model {name!r} in {self.location} (models: {known})")

    def version_ids(self, name: str) -> list[str]:
        self.require_model(name)
        return sorted(self._version_ids(name), key=version_number)

    def current(self, name: str) -> str | None:
        """The served version of ``name`` (None before the first publish): cheap to poll."""
        return self.pointer(check_name(name)).get("version")

    def manifest(self, name: str, version: str) -> dict[str, Any]:
        version_number(version)
        self.require_model(name)
        manifest = self._read_manifest(name, version)
        if manifest is None:
            raise StoreError(
                f"unknown version {version!r} of {name!r} "
                f"(versions: {', '.join(self.version_ids(name)) or 'none'})"
            )
        return manifest

    def info(self, name: str, version: str, current: str | None = None) -> VersionInfo:
        current = self.current(name) if current is None else current
        manifest = self.manifest(name, version)
        location = self.version_location(name, version)
        return VersionInfo(name, version, location, manifest, version == current)

    def list_versions(self, name: str | None = None) -> list[VersionInfo]:
        infos = []
        for model in [name] if name else self.names():
            current = self.current(model)
            infos += [self.info(model, v, current) for v in self.version_ids(model)]
        return infos

    def verify(self, name: str, version: str) -> Path:
        """Check every file against the manifest's sha256; returns a local directory with
        the version's files (the version directory, or its verified copy in the cache)."""
        return self.verified_dir(name, version, self.manifest(name, version))

    def resolve(self, name: str, version: str | None = None) -> str:
        """``version``, checked to exist, or the current version of ``name``."""
        self.require_model(name)
        if version is not None:
            self.manifest(name, version)
            return version
        current = self.current(name)
        if current is None:
            raise StoreError(f"model {name!r} has no current version")
        return current

    def load_bundle(self, name: str, version: str | None = None, device: str = "cpu") -> Bundle:
        version = self.resolve(name, version)
        return load_bundle(self.verify(name, version), device)

    def load(
        self, name: str, version: str | None = None, device: str = "cpu"
    ) -> tuple[str, Predictor]:
        """Verify and load a version (the current one by default) as a predictor."""
        version = self.resolve(name, version)
        return version, Predictor(self.load_bundle(name, version, device))

    # -- writing -----------------------------------------------------------------------
    def publish(
        self,
        name: str,
        bundle: Bundle,
        parent: str | None = None,
        make_current: bool = True,
        locked: bool = False,
        extra_files: dict[str, str] | None = None,
    ) -> str:
        """Write ``bundle`` (and ``extra_files``: name -> text) as the next version of ``name``.

        Returns the version id. ``locked=True`` when the caller holds ``self.lock(name)``.
        """
        if not locked:
            with self.lock(name):
                return self.publish(name, bundle, parent, make_current, True, extra_files)
        check_name(name)
        ids = self.version_ids(name) if self._has_model(name) else []
        if ids:
            modality = self.manifest(name, ids[-1]).get("modality")
            if modality != bundle.modality:
                raise StoreError(
                    f"model {name!r} holds {modality} models: a {bundle.modality} model cannot "
                    "be its next version (choose another name)"
                )
        staged = self._staging_dir(name)
        try:
            files = stage_bundle(staged, bundle, extra_files)
            version = self._store_version(
                name, staged, lambda v: new_manifest(name, v, bundle, parent, files)
            )
        finally:
            shutil.rmtree(staged, ignore_errors=True)
        if make_current:
            try:
                self._write_pointer(name, made_current(self.pointer(name), version))
            except StoreConflict as exc:
                with contextlib.suppress(StoreError):  # unreferenced: never served
                    self._delete_version(name, version)
                raise StoreConflict(f"{exc}; {name} {version} is not served (removed)") from None
        return version

    def promote(self, name: str, version: str) -> str | None:
        """Make ``version`` current after verifying it; returns the version it replaced."""
        self.manifest(name, version)
        with self.lock(name):
            pointer = self.pointer(name)
            self.verify(name, version)
            self._write_pointer(name, made_current(pointer, version))
            return pointer.get("version")

    def rollback(self, name: str) -> str:
        """Make the previously current version current again; returns it."""
        self.require_model(name)
        with self.lock(name):
            ids = set(self.version_ids(name))
            pointer = self.pointer(name)
            history = [v for v in pointer.get("history", []) if v in ids]
            if len(history) < 2:
                raise StoreError(f"model {name!r} has no previous version to roll back to")
            previous = history[-2]
            self.verify(name, previous)
            self._write_pointer(name, moved_pointer(pointer, previous, history[:-1]))
            return previous

    def prune(self, name: str, keep: int, locked: bool = False) -> list[str]:
        """Delete the oldest versions beyond ``keep``; never the current one, the one it
        replaced, or the one a rollback would restore."""
        if keep < 1:
            raise StoreError(f"keep must be at least 1, got {keep}")
        if not locked:
            self.require_model(name)
            with self.lock(name):
                return self.prune(name, keep, locked=True)
        pointer = self.pointer(name)
        protected = {pointer.get("version"), pointer.get("replaced")}
        protected.update(pointer.get("history", [])[-2:])
        ids = self.version_ids(name)
        removable = [v for v in ids[: max(0, len(ids) - keep)] if v not in protected]
        if removable:  # the pointer unchanged (on S3: a compare-and-swap), or nothing goes
            self._write_pointer(name, pointer)
        for version in removable:
            self._delete_version(name, version)
        return removable


@contextlib.contextmanager
def temporary_dir(parent: Path, prefix: str) -> Iterator[Path]:
    """A new directory under ``parent``, removed at the end unless renamed away."""
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)

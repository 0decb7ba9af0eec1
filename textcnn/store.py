"""The model store: versions of each named model in a registry directory, the way a trained
model reaches the service (``textcnn models`` operates it; not to be confused with the
registries of architectures and modalities, which are lookup tables in code).

Layout of a registry directory::

    registry.json                     marks the directory as a registry
    <name>/versions/v<N>/             a bundle plus manifest.json (sha256 of every file)
    <name>/current.json               the served version, the history of current versions
                                      (rollback pops it) and the version it replaced
    <name>/.lock                      held while writing (publish, promote, rollback, prune)
    <name>/.train.lock                held for a whole retrain: a second one fails fast
    <name>/.tmp-*                     a write in progress, or left by a dead one

Publishing writes into a temporary folder, fsyncs, and renames it into ``versions/``; the
pointer is replaced with a rename. A process killed at any moment leaves the served version
loadable; whoever next takes the write lock removes what it left. Versions are immutable and
verified against their manifest on every load. Readers (service replicas, possibly on other
hosts sharing the directory) never lock: they poll ``current(name)``. Locks are ``flock``
locks, which Linux also honours on NFSv4 mounts.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
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
TMP_PREFIX = ".tmp-"
HISTORY_LIMIT = 100
KEEP = 10  # versions kept per model after publishing, by default
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
VERSION_RE = re.compile(r"v[1-9][0-9]*")


class StoreError(TextCNNError):
    """A registry, model or version that is missing, busy or fails verification."""


@dataclass
class VersionInfo:
    name: str
    version: str
    path: Path
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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON next to ``path``, fsync, and rename it over ``path`` (readable by all)."""
    fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{path.name}-", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(obj, fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fchmod(fh.fileno(), 0o644)
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


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


def check_path(root: str | Path, create: bool = False) -> Path:
    """``root`` as a registry path: an existing registry, or with ``create`` a new one."""
    root = Path(root)
    if (root / MARKER).is_file():
        return root
    if create and not root.exists():
        return root
    if not root.exists():
        raise StoreError(f"{root}: no such registry directory")
    if not root.is_dir():
        raise StoreError(f"{root}: not a directory")
    if create and not any(p for p in root.iterdir() if not p.name.startswith(".")):
        return root
    hint = "; use a new or empty directory" if create else ""
    raise StoreError(f"{root}: not a model registry (no {MARKER}){hint}")


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: corrupt {what} ({exc})") from exc


@contextlib.contextmanager
def _flock(path: Path, wait: bool, busy: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``path``; the holder's pid and host are written into it."""
    with path.open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise StoreError(f"{busy} (held by {holder})") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fh.flush()


class ModelStore:
    """A registry directory of model versions: publish, verify, load, promote, roll back."""

    def __init__(self, root: str | Path, create: bool = False) -> None:
        self.root = check_path(root, create)
        marker = self.root / MARKER
        if not marker.is_file():
            self.root.mkdir(parents=True, exist_ok=True)
            write_json_atomic(marker, {"format": FORMAT, "format_version": 1})
        elif _read_json(marker, "registry marker").get("format") != FORMAT:
            raise StoreError(f"{marker}: not a {FORMAT} marker")

    # -- reading -----------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and (p / "versions").is_dir()
        )

    def model_dir(self, name: str) -> Path:
        return self.root / check_name(name)

    def require_model(self, name: str) -> Path:
        directory = self.model_dir(name)
        if not (directory / "versions").is_dir():
            known = ", ".join(self.names()) or "none"
            raise StoreError(f"unknown model {name!r} in {self.root} (models: {known})")
        return directory

    def version_ids(self, name: str) -> list[str]:
        versions = self.require_model(name) / "versions"
        ids = [
            p.name
            for p in versions.iterdir()
            if VERSION_RE.fullmatch(p.name) and (p / MANIFEST).is_file()
        ]
        return sorted(ids, key=version_number)

    def pointer(self, name: str) -> dict[str, Any]:
        path = self.model_dir(name) / POINTER
        if not path.is_file():
            return {"version": None, "history": []}
        return _read_json(path, "pointer")

    def current(self, name: str) -> str | None:
        """The served version of ``name`` (None before the first publish): cheap to poll."""
        return self.pointer(name).get("version")

    def version_dir(self, name: str, version: str) -> Path:
        version_number(version)
        path = self.require_model(name) / "versions" / version
        if not (path / MANIFEST).is_file():
            raise StoreError(
                f"unknown version {version!r} of {name!r} "
                f"(versions: {', '.join(self.version_ids(name)) or 'none'})"
            )
        return path

    def manifest(self, name: str, version: str) -> dict[str, Any]:
        return _read_json(self.version_dir(name, version) / MANIFEST, "manifest")

    def info(self, name: str, version: str, current: str | None = None) -> VersionInfo:
        current = self.current(name) if current is None else current
        path = self.version_dir(name, version)
        return VersionInfo(name, version, path, self.manifest(name, version), version == current)

    def list_versions(self, name: str | None = None) -> list[VersionInfo]:
        infos = []
        for model in [name] if name else self.names():
            current = self.current(model)
            infos += [self.info(model, v, current) for v in self.version_ids(model)]
        return infos

    def verify(self, name: str, version: str) -> Path:
        """Check every file against the manifest's sha256; returns the version directory."""
        path = self.version_dir(name, version)
        listed = self.manifest(name, version).get("files") or {}
        present = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
        present.discard(MANIFEST)
        for filename, expected in sorted(listed.items()):
            file = path / filename
            if filename not in present:
                raise StoreError(f"{file}: missing from {name} {version}; version refused")
            if sha256_file(file) != expected:
                raise StoreError(
                    f"{file}: checksum mismatch (tampered or truncated); {name} {version} refused"
                )
        unlisted = sorted(present - set(listed))
        if unlisted:
            raise StoreError(f"{path / unlisted[0]}: not in the manifest; {name} {version} refused")
        if not listed:
            raise StoreError(f"{path / MANIFEST}: lists no files; {name} {version} refused")
        return path

    def resolve(self, name: str, version: str | None = None) -> str:
        """``version``, checked to exist, or the current version of ``name``."""
        self.require_model(name)
        if version is not None:
            self.version_dir(name, version)
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
    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """The write lock of ``name`` (waits; held briefly); removes what dead writers left."""
        directory = self.model_dir(name)
        directory.mkdir(exist_ok=True)
        with _flock(directory / ".lock", wait=True, busy=f"model {name!r} is locked"):
            for stale in directory.glob(f"{TMP_PREFIX}*"):
                if stale.is_dir():
                    shutil.rmtree(stale, ignore_errors=True)
                else:
                    stale.unlink(missing_ok=True)
            yield

    @contextlib.contextmanager
    def training(self, name: str) -> Iterator[None]:
        """Held for a whole retrain of ``name``: a second retrain fails at once."""
        directory = self.require_model(name)
        busy = f"model {name!r} is being retrained by another process; try again when it ends"
        with _flock(directory / ".train.lock", wait=False, busy=busy):
            with self.lock(name):
                pass  # clean up after a retrain that died
            yield

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
        directory = self.model_dir(name)
        versions = directory / "versions"
        ids = self.version_ids(name) if versions.is_dir() else []
        if ids:
            modality = self.manifest(name, ids[-1]).get("modality")
            if modality != bundle.modality:
                raise StoreError(
                    f"model {name!r} holds {modality} models: a {bundle.modality} model cannot "
                    "be its next version (choose another name)"
                )
        versions.mkdir(parents=True, exist_ok=True)
        taken = [version_number(p.name) for p in versions.iterdir() if VERSION_RE.fullmatch(p.name)]
        version = f"v{max(taken, default=0) + 1}"
        tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=directory))
        os.chmod(tmp, 0o755)
        bundle.save(tmp)
        for filename, text in (extra_files or {}).items():
            (tmp / filename).write_text(text, encoding="utf-8")
        files = {}
        for file in sorted(p for p in tmp.rglob("*") if p.is_file()):
            with file.open("rb") as fh:
                os.fsync(fh.fileno())
            files[file.relative_to(tmp).as_posix()] = sha256_file(file)
        manifest = {
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
        write_json_atomic(tmp / MANIFEST, manifest)
        os.rename(tmp, versions / version)
        _fsync_dir(versions)
        if make_current:
            self._set_current(name, version)
        return version

    def _set_current(self, name: str, version: str) -> None:
        history = [v for v in self.pointer(name).get("history", []) if v != version]
        self._write_pointer(name, version, [*history, version][-HISTORY_LIMIT:])

    def _write_pointer(self, name: str, version: str, history: list[str]) -> None:
        pointer = {
            "version": version,
            "history": history,
            "replaced": self.current(name),
            "updated": time.time(),
        }
        write_json_atomic(self.model_dir(name) / POINTER, pointer)

    def promote(self, name: str, version: str) -> str | None:
        """Make ``version`` current after verifying it; returns the version it replaced."""
        self.version_dir(name, version)
        with self.lock(name):
            previous = self.current(name)
            self.verify(name, version)
            self._set_current(name, version)
            return previous

    def rollback(self, name: str) -> str:
        """Make the previously current version current again; returns it."""
        self.require_model(name)
        with self.lock(name):
            ids = set(self.version_ids(name))
            history = [v for v in self.pointer(name).get("history", []) if v in ids]
            if len(history) < 2:
                raise StoreError(f"model {name!r} has no previous version to roll back to")
            previous = history[-2]
            self.verify(name, previous)
            self._write_pointer(name, previous, history[:-1])
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
        protected = {pointer.get("replaced"), *pointer.get("history", [])[-2:]}
        ids = self.version_ids(name)
        removable = [v for v in ids[: max(0, len(ids) - keep)] if v not in protected]
        for version in removable:
            trash = self.model_dir(name) / f"{TMP_PREFIX}prune-{version}"
            os.rename(self.model_dir(name) / "versions" / version, trash)
            shutil.rmtree(trash, ignore_errors=True)
        return removable

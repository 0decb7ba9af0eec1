"""The model store in a local directory (or one on NFS shared by several hosts).

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
verified against their manifest on every load. Locks are ``flock`` locks, which Linux also
honours on NFSv4 mounts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from textcnn.store.base import (
    FORMAT,
    MANIFEST,
    MARKER,
    POINTER,
    VERSION_RE,
    ModelStore,
    StoreError,
    check_name,
    parse_json,
    verify_files,
    version_number,
)

TMP_PREFIX = ".tmp-"


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
    return parse_json(path.read_bytes(), str(path), what)


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


class LocalStore(ModelStore):
    """A registry directory of model versions (the layout above)."""

    def __init__(self, root: str | Path, create: bool = False) -> None:
        self.root = check_path(root, create)
        self.location = str(self.root)
        marker = self.root / MARKER
        if not marker.is_file():
            self.root.mkdir(parents=True, exist_ok=True)
            write_json_atomic(marker, {"format": FORMAT, "format_version": 1})
        elif _read_json(marker, "registry marker").get("format") != FORMAT:
            raise StoreError(f"{marker}: not a {FORMAT} marker")

    def model_dir(self, name: str) -> Path:
        return self.root / check_name(name)

    def version_dir(self, name: str, version: str) -> Path:
        """The directory of ``version``, checked to exist."""
        self.manifest(name, version)
        return self.model_dir(name) / "versions" / version

    # -- reading -----------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and (p / "versions").is_dir()
        )

    def _has_model(self, name: str) -> bool:
        return (self.model_dir(name) / "versions").is_dir()

    def _version_ids(self, name: str) -> list[str]:
        versions = self.model_dir(name) / "versions"
        return [
            p.name
            for p in versions.iterdir()
            if VERSION_RE.fullmatch(p.name) and (p / MANIFEST).is_file()
        ]

    def _read_manifest(self, name: str, version: str) -> dict[str, Any] | None:
        path = self.model_dir(name) / "versions" / version / MANIFEST
        return _read_json(path, "manifest") if path.is_file() else None

    def pointer(self, name: str) -> dict[str, Any]:
        path = self.model_dir(name) / POINTER
        if not path.is_file():
            return {"version": None, "history": []}
        return _read_json(path, "pointer")

    def version_location(self, name: str, version: str) -> str:
        return str(self.model_dir(name) / "versions" / version)

    def verified_dir(self, name: str, version: str, manifest: dict[str, Any]) -> Path:
        path = self.model_dir(name) / "versions" / version
        verify_files(path, manifest, f"{name} {version}", str(path))
        return path

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
        self.require_model(name)
        busy = f"model {name!r} is being retrained by another process; try again when it ends"
        with _flock(self.model_dir(name) / ".train.lock", wait=False, busy=busy):
            with self.lock(name):
                pass  # clean up after a retrain that died
            yield

    def _staging_dir(self, name: str) -> Path:
        tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=self.model_dir(name)))
        os.chmod(tmp, 0o755)
        return tmp

    def _store_version(
        self, name: str, staged: Path, manifest_for: Callable[[str], dict[str, Any]]
    ) -> str:
        versions = self.model_dir(name) / "versions"
        versions.mkdir(parents=True, exist_ok=True)
        taken = [version_number(p.name) for p in versions.iterdir() if VERSION_RE.fullmatch(p.name)]
        version = f"v{max(taken, default=0) + 1}"
        for file in (p for p in staged.rglob("*") if p.is_file()):
            with file.open("rb") as fh:
                os.fsync(fh.fileno())
        write_json_atomic(staged / MANIFEST, manifest_for(version))
        os.rename(staged, versions / version)  # the caller's cleanup finds nothing left
        _fsync_dir(versions)
        return version

    def _write_pointer(self, name: str, pointer: dict[str, Any]) -> None:
        write_json_atomic(self.model_dir(name) / POINTER, pointer)

    def _delete_version(self, name: str, version: str) -> None:
        trash = self.model_dir(name) / f"{TMP_PREFIX}prune-{version}"
        os.rename(self.model_dir(name) / "versions" / version, trash)
        shutil.rmtree(trash, ignore_errors=True)

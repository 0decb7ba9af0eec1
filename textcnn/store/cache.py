"""Versions read from a remote registry, kept as verified local copies under
``$TEXTCNN_CACHE/registry/<key>/``, the key a digest of the manifest's checksums: a replica
downloads a version once, and never keeps (or serves) a copy that fails its manifest. The
cache keeps the ``KEEP`` most recently used copies: a replica that follows a model through
many retrains does not fill its disk."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textcnn.cache import cache_root
from textcnn.store.base import VersionRefused, temporary_dir, verify_files

log = logging.getLogger(__name__)

KEEP = 8  # verified copies kept per host: the served versions, their rollbacks, and a margin


def cache_key(manifest: dict[str, Any]) -> str:
    """A digest of the files a manifest lists with their sha256s (the same files: one copy)."""
    listed = json.dumps(manifest.get("files") or {}, sort_keys=True)
    return hashlib.sha256(listed.encode()).hexdigest()


def cached_version(
    manifest: dict[str, Any],
    label: str,
    where: str,
    download: Callable[[str, Path], None],
) -> Path:
    """The local copy of a version, downloading it (``download(filename, dest)``) the first
    time; every file is checked against ``manifest`` before the copy is moved into place and
    again on each later use (a damaged copy is dropped and downloaded again)."""
    root = cache_root() / "registry"
    target = root / cache_key(manifest)
    if target.is_dir():
        try:
            verify_files(target, manifest, label, str(target))
            os.utime(target)  # used now: the last to be pruned
            return target
        except VersionRefused as exc:
            log.warning("the cached copy of %s is damaged (%s); downloading it again", label, exc)
            shutil.rmtree(target, ignore_errors=True)
    with temporary_dir(root, ".tmp-") as tmp:
        for filename in manifest.get("files") or {}:
            dest = tmp / filename
            dest.parent.mkdir(parents=True, exist_ok=True)
            download(filename, dest)
        verify_files(tmp, manifest, label, where)
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():  # not another process that won the same download
                raise
    prune(root, keep=KEEP)
    return target


def prune(root: Path, keep: int) -> list[Path]:
    """Remove all but the ``keep`` most recently used copies under ``root``; returns those removed.

    A copy that another process on this host serves is already in its memory, and one that
    is pruned while being read fails its checksums there and is downloaded again.
    """
    copies = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in copies[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    return copies[keep:]

"""The model store: versions of each named model in a registry, the way a trained model
reaches the service (``textcnn models`` operates it; not to be confused with the registries
of architectures and modalities, which are lookup tables in code).

A registry is a local directory (``LocalStore``, the default: one machine, or NFS) or an S3
prefix ``s3://bucket/prefix`` (``S3Store``: any number of hosts). ``open_store`` picks the
backend from the location; both behave the same behind ``ModelStore``.
"""

from __future__ import annotations

from pathlib import Path

from textcnn.store.base import (
    KEEP,
    MANIFEST,
    MARKER,
    POINTER,
    ModelStore,
    StoreConflict,
    StoreError,
    StoreUnreachable,
    VersionInfo,
    VersionRefused,
    check_name,
    sha256_file,
    version_number,
)
from textcnn.store.local import LocalStore
from textcnn.store.local import check_path as check_local_path
from textcnn.store.s3 import S3Store, is_s3, parse_uri

__all__ = [
    "KEEP",
    "MANIFEST",
    "MARKER",
    "POINTER",
    "LocalStore",
    "ModelStore",
    "S3Store",
    "StoreConflict",
    "StoreError",
    "StoreUnreachable",
    "VersionInfo",
    "VersionRefused",
    "check_name",
    "check_path",
    "is_s3",
    "open_store",
    "sha256_file",
    "version_number",
]


def check_path(location: str | Path, create: bool = False) -> str | Path:
    """``--registry``: an ``s3://bucket/prefix`` (its syntax only: the bucket is read when
    the command runs), or a directory checked as ``LocalStore`` would."""
    if is_s3(location):
        parse_uri(str(location))
        return str(location)
    return check_local_path(location, create)


def open_store(location: str | Path, create: bool = False) -> ModelStore:
    """The registry at ``location``: ``s3://bucket/prefix`` or a directory; ``create`` makes
    a new registry where there is none (an absent or empty directory or prefix)."""
    if is_s3(location):
        return S3Store(str(location), create)
    return LocalStore(location, create)

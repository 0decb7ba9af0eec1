"""API keys as SHA-256 digests, read from ``TEXTCNN_API_KEYS`` and ``TEXTCNN_API_KEYS_FILE``.

Keys fail closed: a key that no client could send (empty, blank, or with whitespace around
it), a key file that cannot be read, holds no key or a malformed ``sha256:`` line, is an
error, raised when the settings are read, so the service refuses to start. A configured list
of keys never silently means "no authentication".
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

DIGEST_PREFIX = "sha256:"


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def key_digests(keys: Sequence[str], path: Path | None) -> list[bytes]:
    """The SHA-256 of every key in ``keys`` and in the file at ``path`` (one a line, ``#``
    comments, ``sha256:<hex>`` for a key's digest); ``ValueError`` saying why for any key
    that cannot be used and for a file without a key."""
    digests = []
    for number, key in enumerate(keys, 1):
        if not key.strip():
            raise ValueError(f"TEXTCNN_API_KEYS: key {number} is empty or blank")
        if key != key.strip():
            raise ValueError(
                f"TEXTCNN_API_KEYS: key {number} starts or ends with whitespace, which an "
                "Authorization header cannot carry"
            )
        digests.append(digest(key))
    if path is not None:
        digests += _file_digests(path)
    return digests


def _file_digests(path: Path) -> list[bytes]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read TEXTCNN_API_KEYS_FILE: {exc}") from None
    digests = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(DIGEST_PREFIX):
            try:
                value = bytes.fromhex(line.removeprefix(DIGEST_PREFIX))
            except ValueError:
                value = b""
            if len(value) != hashlib.sha256().digest_size:
                raise ValueError(
                    f"TEXTCNN_API_KEYS_FILE line {number}: sha256: needs 64 hex digits"
                )
            digests.append(value)
        else:
            digests.append(digest(line))
    if not digests:
        raise ValueError(
            f"TEXTCNN_API_KEYS_FILE {path} holds no key (only blank lines and # comments); "
            "unset it to serve without authentication"
        )
    return digests

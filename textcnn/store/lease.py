"""The training lock of a store without ``flock``: a lease object naming its owner and an
expiry, renewed in a thread while the owner trains. An expired lease (its owner died or
lost the network) is taken over, with a warning naming the old owner. Taking and renewing
are conditional writes, so two processes never both hold it."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from textcnn.store.base import StoreConflict, StoreError, json_bytes, parse_json

log = logging.getLogger(__name__)
LEASE_ENV = "TEXTCNN_LEASE_SECONDS"


def lease_seconds() -> float:
    """How long a lease lasts unless renewed (renewed every third of it): how long a dead
    trainer keeps others waiting. ``$TEXTCNN_LEASE_SECONDS``, by default 60."""
    try:
        seconds = float(os.environ.get(LEASE_ENV) or 60)
    except ValueError:
        raise StoreError(f"{LEASE_ENV} must be a number of seconds") from None
    if seconds <= 0:
        raise StoreError(f"{LEASE_ENV} must be positive")
    return seconds


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


class Lease:
    """One holder's lease on ``key``; ``put(key, body, if_match=etag | None)`` writes it
    (``if_match=None``: only if absent) and raises ``StoreConflict`` when the condition
    fails; ``get(key)`` gives ``(body, etag)`` or None."""

    def __init__(
        self,
        key: str,
        what: str,
        get: Callable[[str], tuple[bytes, str] | None],
        put: Callable[..., str],
        delete: Callable[..., None],
        seconds: float,
    ) -> None:
        self.key, self.what, self.seconds = key, what, seconds
        self._get, self._put, self._delete = get, put, delete
        self.owner = f"pid {os.getpid()} on {socket.gethostname()}"
        self.etag: str | None = None
        self.lost: str | None = None  # who took it over, once someone has
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _body(self) -> bytes:
        return json_bytes({"owner": self.owner, "expires": time.time() + self.seconds})

    def _busy(self, held: dict[str, Any]) -> StoreError:
        return StoreError(
            f"{self.what} is being retrained by another process; try again when it ends "
            f"(held by {held.get('owner', 'another process')} until "
            f"{_when(float(held.get('expires', 0)))})"
        )

    def acquire(self) -> None:
        try:
            self.etag = self._put(self.key, self._body(), if_match=None)
        except StoreConflict:
            found = self._get(self.key)
            if found is None:  # released meanwhile
                self.etag = self._put(self.key, self._body(), if_match=None)
            else:
                data, etag = found
                held = parse_json(data, self.key, "lease")
                if float(held.get("expires", 0)) > time.time():
                    raise self._busy(held) from None
                try:
                    self.etag = self._put(self.key, self._body(), if_match=etag)
                except StoreConflict:
                    raise self._busy(held) from None
                log.warning(
                    "took over the training lease of %s from %s: it expired at %s",
                    self.what,
                    held.get("owner", "an unknown owner"),
                    _when(float(held.get("expires", 0))),
                )
        self._thread = threading.Thread(target=self._renew, name="textcnn-lease", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self.etag = self._put(self.key, self._body(), if_match=self.etag)
            except StoreConflict:
                found = self._get(self.key)
                owner = json.loads(found[0]).get("owner") if found else "nobody"
                self.lost = str(owner)
                log.error("the training lease of %s was taken over by %s", self.what, owner)
                return
            except StoreError as exc:  # the store is unreachable for now: try again
                log.warning("cannot renew the training lease of %s: %s", self.what, exc)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.lost is None:
            try:
                self._delete(self.key, if_match=self.etag)
            except StoreError as exc:  # it expires by itself
                log.warning("cannot release the training lease of %s: %s", self.what, exc)

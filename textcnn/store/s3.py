"""The model store on S3-compatible object storage (``s3://bucket/prefix``), through boto3.

The endpoint and credentials come from the standard AWS configuration (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID`` and the rest of the environment, ``AWS_PROFILE``, ``~/.aws``). Layout
under the prefix, as in a registry directory::

    registry.json                      marks the prefix as a registry
    <name>/versions/v<N>/.claim        claims version N (written only if absent)
    <name>/versions/v<N>/<files>       the bundle, each object written only if absent
    <name>/versions/v<N>/manifest.json sha256 of every file, written last
    <name>/current.json                the pointer, replaced only if its ETag is unchanged
    <name>/.train.lease                the training lease (owner, expiry)

Nothing is served before its manifest exists and the pointer names it. ``lock(name)`` takes
no lock: it remembers the pointer's ETag, and the pointer write inside it succeeds only if
nobody moved the pointer meanwhile (compare-and-swap); otherwise the writer gets a
``StoreConflict`` and removes the version it wrote. Replicas poll the pointer with a
conditional GET (a 304 transfers nothing) and read versions through the local cache
(``textcnn.store.cache``), which checks every file against the manifest.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import time
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
    StoreConflict,
    StoreError,
    StoreUnreachable,
    check_listing,
    check_name,
    json_bytes,
    parse_json,
)
from textcnn.store.cache import cached_version
from textcnn.store.lease import Lease, lease_seconds

SCHEME = "s3://"
CLAIM = ".claim"
LEASE = ".train.lease"
NOT_MODIFIED = object()  # what a conditional GET gives when the object is unchanged
# answers that mean the request (or its signature) was refused, not that a key is absent
REFUSED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken", "403"}


def is_s3(uri: str | Path) -> bool:
    return isinstance(uri, str) and uri.startswith(SCHEME)


def parse_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` as ``(bucket, prefix)`` (the prefix without slashes at its ends)."""
    bucket, _, prefix = uri.removeprefix(SCHEME).partition("/")
    if not bucket or not all(c.isalnum() or c in ".-_" for c in bucket):
        raise StoreError(f"{uri}: not an S3 registry (expected s3://BUCKET[/PREFIX])")
    return bucket, prefix.strip("/")


def _boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise StoreError("an s3:// registry needs boto3: pip install 'textcnn[s3]'") from None
    return boto3


class S3Store(ModelStore):
    """A registry under an S3 prefix (the layout above)."""

    def __init__(
        self,
        uri: str,
        create: bool = False,
        client: Any = None,
        lease_seconds: float | None = None,
    ) -> None:
        self.bucket, self.prefix = parse_uri(uri)
        self.location = f"{SCHEME}{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")
        if client is None:
            from botocore.config import Config

            config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3})
            client = _boto3().session.Session().client("s3", config=config)
        self.client = client
        self.endpoint = client.meta.endpoint_url
        self.lease_seconds = lease_seconds  # default: $TEXTCNN_LEASE_SECONDS
        self._pointers: dict[str, tuple[str, dict[str, Any]]] = {}  # name: (ETag, pointer)
        self._held: dict[str, str | None] = {}  # name: the pointer ETag its lock remembers
        self._leases: dict[str, Lease] = {}
        self._open(create)

    def _open(self, create: bool) -> None:
        found = self._get(self._key(MARKER))
        if found is not None:
            marker = parse_json(found[0], f"{self.location}/{MARKER}", "registry marker")
            if marker.get("format") != FORMAT:
                raise StoreError(f"{self.location}/{MARKER}: not a {FORMAT} marker")
            return
        if not create or self._keys(self._key(""), limit=1):
            hint = "; use a new or empty prefix" if create else ""
            raise StoreError(f"{self.location}: not a model registry (no {MARKER}){hint}")
        with contextlib.suppress(StoreConflict):  # another process created it first
            self._put(self._key(MARKER), json_bytes({"format": FORMAT, "format_version": 1}))

    # -- S3 requests, their errors translated --------------------------------------------
    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p) + ("/" if parts[-1] == "" else "")

    def _call(self, operation: str, **kwargs: Any) -> Any:
        """``client.<operation>(Bucket=..., **kwargs)``; a refused or unreachable endpoint,
        or a missing bucket, becomes a one-line ``StoreError`` naming the endpoint."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            return getattr(self.client, operation)(Bucket=self.bucket, **kwargs)
        except NoCredentialsError:
            raise StoreUnreachable(
                f"no AWS credentials for the registry {self.location} at {self.endpoint} "
                "(set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"
            ) from None
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in REFUSED:
                raise StoreUnreachable(
                    f"{self.endpoint} refused the credentials for the registry {self.location}: "
                    f"{error.get('Message') or code}"
                ) from None
            if code == "NoSuchBucket":
                raise StoreError(f"no bucket {self.bucket!r} at {self.endpoint}") from None
            raise
        except BotoCoreError as exc:  # connection refused, timeouts, bad endpoint URLs
            raise StoreUnreachable(
                f"cannot reach the registry {self.location} at {self.endpoint}: {exc}"
            ) from None

    @staticmethod
    def _status(exc: Exception) -> int:
        return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))

    def _get(self, key: str, if_none_match: str | None = None) -> Any:
        """``(body, etag)``, None for a missing key, or ``NOT_MODIFIED`` when the object
        still has the ETag ``if_none_match``."""
        from botocore.exceptions import ClientError

        extra = {"IfNoneMatch": if_none_match} if if_none_match else {}
        try:
            response = self._call("get_object", Key=key, **extra)
        except ClientError as exc:
            status = self._status(exc)
            if status == 304:
                return NOT_MODIFIED
            if status == 404:
                return None
            raise StoreError(f"{SCHEME}{self.bucket}/{key}: {exc}") from None
        return response["Body"].read(), response["ETag"]

    def _put(self, key: str, body: bytes | Any, if_match: str | None = None) -> str:
        """Write ``key`` only if it is absent (``if_match=None``) or still has the ETag
        ``if_match``; ``StoreConflict`` when it is not (412, or 409 for a concurrent write)."""
        from botocore.exceptions import ClientError

        condition = {"IfMatch": if_match} if if_match else {"IfNoneMatch": "*"}
        try:
            return self._call("put_object", Key=key, Body=body, **condition)["ETag"]
        except ClientError as exc:
            if self._status(exc) in (409, 412):
                raise StoreConflict(f"{SCHEME}{self.bucket}/{key} was written by another") from None
            raise StoreError(f"{SCHEME}{self.bucket}/{key}: {exc}") from None

    def _delete(self, key: str, if_match: str | None = None) -> None:
        from botocore.exceptions import ClientError

        extra = {"IfMatch": if_match} if if_match else {}
        try:
            self._call("delete_object", Key=key, **extra)
        except ClientError as exc:
            if self._status(exc) in (409, 412):
                raise StoreConflict(f"{SCHEME}{self.bucket}/{key} was written by another") from None
            raise StoreError(f"{SCHEME}{self.bucket}/{key}: {exc}") from None

    def _keys(self, prefix: str, limit: int | None = None) -> list[str]:
        keys: list[str] = []
        token: dict[str, str] = {}
        while True:
            extra = {"MaxKeys": limit} if limit else {}
            page = self._call("list_objects_v2", Prefix=prefix, **extra, **token)
            keys += [item["Key"] for item in page.get("Contents", [])]
            if limit or not page.get("IsTruncated"):
                return keys
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def _folders(self, prefix: str) -> list[str]:
        """The names one level below ``prefix`` (which ends with a slash)."""
        names: list[str] = []
        token: dict[str, str] = {}
        while True:
            page = self._call("list_objects_v2", Prefix=prefix, Delimiter="/", **token)
            names += [
                p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])
            ]
            if not page.get("IsTruncated"):
                return names
            token = {"ContinuationToken": page["NextContinuationToken"]}

    # -- reading -----------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(n for n in self._folders(self._key("")) if self._has_model(n))

    def _has_model(self, name: str) -> bool:
        return bool(self._keys(self._key(name, "versions", ""), limit=1))

    def _version_ids(self, name: str) -> list[str]:
        versions = self._key(name, "versions", "")
        ids = []
        for key in self._keys(versions):
            version, _, rest = key[len(versions) :].partition("/")
            if rest == MANIFEST and VERSION_RE.fullmatch(version):
                ids.append(version)
        return ids

    def _read_manifest(self, name: str, version: str) -> dict[str, Any] | None:
        found = self._get(self._key(name, "versions", version, MANIFEST))
        if found is None:
            return None
        return parse_json(
            found[0], f"{self.version_location(name, version)}/{MANIFEST}", "manifest"
        )

    def pointer(self, name: str) -> dict[str, Any]:
        """The pointer, read with a conditional GET on the ETag last seen (304: no body)."""
        cached = self._pointers.get(name)
        found = self._get(self._key(check_name(name), POINTER), cached[0] if cached else None)
        if found is NOT_MODIFIED and cached is not None:
            return dict(cached[1])
        if found is None or found is NOT_MODIFIED:
            self._pointers.pop(name, None)
            return {"version": None, "history": []}
        pointer = parse_json(found[0], f"{self.location}/{name}/{POINTER}", "pointer")
        self._pointers[name] = (found[1], pointer)
        return dict(pointer)

    def version_location(self, name: str, version: str) -> str:
        return f"{SCHEME}{self.bucket}/{self._key(name, 'versions', version)}"

    def verified_dir(self, name: str, version: str, manifest: dict[str, Any]) -> Path:
        where, label = self.version_location(name, version), f"{name} {version}"
        prefix = self._key(name, "versions", version, "")
        present = {key[len(prefix) :] for key in self._keys(prefix)} - {MANIFEST, CLAIM}
        check_listing(present, manifest, label, where)

        def download(filename: str, dest: Path) -> None:
            key = self._key(name, "versions", version, filename)
            response = self._call("get_object", Key=key)
            with dest.open("wb") as fh:
                for chunk in response["Body"].iter_chunks(1 << 20):
                    fh.write(chunk)

        return cached_version(manifest, label, where, download)

    # -- writing -----------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Remembers the pointer's ETag: the pointer writes inside succeed only if it holds."""
        lease = self._leases.get(name)
        if lease is not None and lease.lost:
            raise StoreConflict(
                f"the training lease of model {name!r} was taken over by {lease.lost} "
                "(this process failed to renew it in time); nothing published"
            )
        if name in self._held:  # nested: the outer block's ETag stands
            yield
            return
        self.pointer(name)
        self._held[name] = self._pointers[name][0] if name in self._pointers else None
        try:
            yield
        finally:
            del self._held[name]

    @contextlib.contextmanager
    def training(self, name: str) -> Iterator[None]:
        self.require_model(name)
        lease = Lease(
            self._key(name, LEASE),
            f"model {name!r}",
            self._get,
            self._put,
            self._delete,
            self.lease_seconds or lease_seconds(),
        )
        lease.acquire()
        self._leases[name] = lease
        try:
            yield
        finally:
            del self._leases[name]
            lease.release()

    def _staging_dir(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix="textcnn-publish-"))

    def _claim(self, name: str) -> str:
        """The next free version id, claimed with a write that only succeeds if absent."""
        taken = [
            int(v[1:])
            for v in self._folders(self._key(name, "versions", ""))
            if VERSION_RE.fullmatch(v)
        ]
        number = max(taken, default=0) + 1
        claim = json_bytes(
            {"owner": f"pid {os.getpid()} on {socket.gethostname()}", "at": time.time()}
        )
        while True:
            try:
                self._put(self._key(name, "versions", f"v{number}", CLAIM), claim)
                return f"v{number}"
            except StoreConflict:
                number += 1

    def _store_version(
        self, name: str, staged: Path, manifest_for: Callable[[str], dict[str, Any]]
    ) -> str:
        version = self._claim(name)
        try:
            for file in sorted(p for p in staged.rglob("*") if p.is_file()):
                key = self._key(name, "versions", version, file.relative_to(staged).as_posix())
                with file.open("rb") as fh:
                    self._put(key, fh)
            self._put(
                self._key(name, "versions", version, MANIFEST), json_bytes(manifest_for(version))
            )
        except BaseException:
            with contextlib.suppress(Exception):
                self._delete_version(name, version)
            raise
        return version

    def _write_pointer(self, name: str, pointer: dict[str, Any]) -> None:
        if name not in self._held:
            raise RuntimeError("the pointer is written inside lock(name)")
        key = self._key(name, POINTER)
        try:
            etag = self._put(key, json_bytes(pointer), if_match=self._held[name])
        except StoreConflict:
            now = self.pointer(name).get("version")
            raise StoreConflict(
                f"another publisher moved the pointer of {name!r} in {self.location} first "
                f"(it names {now} now); this write lost and changed nothing"
            ) from None
        self._held[name] = etag
        self._pointers[name] = (etag, pointer)

    def _delete_version(self, name: str, version: str) -> None:
        """The manifest first (the version stops being listed), then its files; the claim
        stays, so that the number is never used again."""
        prefix = self._key(name, "versions", version, "")
        keys = sorted(self._keys(prefix), key=lambda k: not k.endswith(f"/{MANIFEST}"))
        for key in keys:
            if not key.endswith(f"/{CLAIM}"):
                self._delete(key)

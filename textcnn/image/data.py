"""Labelled image folders ``root/<class>/<image>``, as a directory or a tar archive of one.

A path may also name a folder inside an archive: ``cifar10-jpg.tar.gz/test``. Images are
decoded once with Pillow (to RGB ``uint8 [3, H, W]`` at their own size) and cached in
``$TEXTCNN_CACHE/images`` (default ``~/.cache/textcnn``) under a SHA-256 of their content,
so later runs never decode again.

A file that is not an image (wrong extension, corrupt, truncated) or lies outside a class
folder is skipped with a warning naming its path; a class folder left without images, or a
source without any, is a ``DataError``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from textcnn.cache import cache_root
from textcnn.errors import DataError
from textcnn.image.processor import IMAGE_EXTENSIONS, decode

log = logging.getLogger(__name__)
CACHE_VERSION = "1"


@dataclass
class ImageDataset:
    """Decoded images (a ``uint8 [N, 3, H, W]`` tensor when all share a size, else a list of
    ``[3, H, W]`` tensors), their class labels and source paths."""

    items: torch.Tensor | list[torch.Tensor]
    labels: list[str]
    paths: list[str]
    source: str
    fingerprint: str
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def locate(self, index: int) -> tuple[str, None]:
        return self.paths[index], None

    def subset(self, indices: list[int]) -> ImageDataset:
        if isinstance(self.items, torch.Tensor):
            items: torch.Tensor | list[torch.Tensor] = self.items[torch.tensor(indices)]
        else:
            items = [self.items[i] for i in indices]
        return ImageDataset(
            items,
            [self.labels[i] for i in indices],
            [self.paths[i] for i in indices],
            self.source,
            self.fingerprint,
        )


@dataclass(frozen=True)
class Source:
    """A directory, or a folder (``prefix``, possibly empty) inside a tar archive."""

    path: Path
    prefix: str = ""

    @property
    def is_archive(self) -> bool:
        return self.path.is_file()

    def display(self, relative: str = "") -> str:
        inner = "/".join(p for p in (self.prefix, relative) if p)
        return f"{self.path}/{inner}" if inner else str(self.path)

    def files(self) -> Iterator[tuple[str, bytes]]:
        """``(path relative to the root, content)`` of every file, in sorted order."""
        if not self.is_archive:
            for file in sorted(p for p in self.path.rglob("*") if p.is_file()):
                yield file.relative_to(self.path).as_posix(), file.read_bytes()
            return
        start = f"{self.prefix}/" if self.prefix else ""
        found = []
        with tarfile.open(self.path) as archive:
            for member in archive:
                name = _member_name(member.name)
                if member.isfile() and name.startswith(start):
                    found.append((name[len(start) :], archive.extractfile(member).read()))
        yield from sorted(found)

    def folder_tree(self) -> dict[str, set[str]]:
        """Top-level folders and the folders directly inside each."""
        if not self.is_archive:
            return {
                top.name: {p.name for p in top.iterdir() if p.is_dir()}
                for top in self.path.iterdir()
                if top.is_dir()
            }
        start = f"{self.prefix}/" if self.prefix else ""
        tree: dict[str, set[str]] = {}
        with tarfile.open(self.path) as archive:
            for member in archive:
                name = _member_name(member.name)
                if not name.startswith(start):
                    continue
                parts = PurePosixPath(name[len(start) :]).parts
                if len(parts) > 1 or (parts and member.isdir()):
                    tree.setdefault(parts[0], set())
                if len(parts) > 2 or (len(parts) == 2 and member.isdir()):
                    tree[parts[0]].add(parts[1])
        return tree


def _member_name(name: str) -> str:
    return name.removeprefix("./").lstrip("/")


def resolve_source(path: str | Path) -> Source:
    """A directory, a tar archive, or ``archive.tar[.gz]/folder/inside``."""
    path = Path(path)
    if path.is_dir():
        return Source(path)
    for candidate in (path, *path.parents):
        if candidate.is_file():
            if not tarfile.is_tarfile(candidate):
                raise DataError(candidate, "not a folder or a tar archive of image folders")
            inner = path.relative_to(candidate).as_posix()
            return Source(candidate, "" if inner == "." else inner)
    raise DataError(path, "no such folder or archive")


def split_names(path: str | Path) -> list[str]:
    """``["test", "train"]`` for a root of split folders each holding class folders (like
    the CIFAR-10 archive), else ``[]``."""
    tree = resolve_source(path).folder_tree()
    return sorted(tree) if tree.get("train") else []


def cache_dir() -> Path:
    return cache_root() / "images"


def _content_hash(source: Source) -> tuple[str, list[tuple[str, bytes]] | None]:
    """SHA-256 of the content; for directories also the files read to compute it."""
    digest = hashlib.sha256()
    if source.is_archive:
        with source.path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        digest.update(f"\0{source.prefix}".encode())
        return digest.hexdigest(), None
    files = list(source.files())
    for name, content in files:
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest(), files


def _decode_all(source: Source, files: list[tuple[str, bytes]]) -> tuple[list, list, list, list]:
    images, labels, paths, skipped = [], [], [], []
    classes = set()
    for name, content in files:
        parts = PurePosixPath(name).parts
        if len(parts) >= 2:
            classes.add(parts[0])
        where = source.display(name)
        if len(parts) != 2:
            skipped.append(f"{where}: not directly inside a class folder")
        elif PurePosixPath(name).suffix.lower() not in IMAGE_EXTENSIONS:
            skipped.append(f"{where}: not an image file ({', '.join(IMAGE_EXTENSIONS)})")
        else:
            try:
                images.append(decode(content))
            except DataError as exc:
                skipped.append(f"{where}: {str(exc).removeprefix('<image bytes>: ')}")
                continue
            labels.append(parts[0])
            paths.append(where)
    empty = sorted(classes - set(labels))
    if empty and files and all(len(PurePosixPath(n).parts) == 3 for n, _ in files):
        raise DataError(
            source.display(),
            f"holds folders of class folders ({', '.join(sorted(classes))}): "
            f"point at one of them, e.g. {source.display(sorted(classes)[0])}",
        )
    for label in empty:
        raise DataError(source.display(label), "no readable images in this class folder")
    if not images:
        raise DataError(source.display(), "no images: expected <class>/<image> files")
    return images, labels, paths, skipped


def _save_cache(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"dataset": json.dumps(meta)})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _stack(pixels: torch.Tensor, shapes: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
    if len(shapes) and bool((shapes == shapes[0]).all()):
        h, w = shapes[0].tolist()
        return pixels.view(len(shapes), 3, h, w)
    sizes = (3 * shapes[:, 0] * shapes[:, 1]).tolist()
    return [t.view(3, h, w) for t, (h, w) in zip(pixels.split(sizes), shapes.tolist(), strict=True)]


def _load_cache(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, list]] | None:
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), "pt") as fh:
            meta = json.loads(fh.metadata()["dataset"])
    except (SafetensorError, OSError, KeyError, ValueError) as exc:
        log.warning("ignoring unreadable image cache %s (%s)", path, exc)
        return None
    return tensors, meta


def read_image_dataset(path: str | Path, cache: bool = True) -> ImageDataset:
    """Read and decode ``root/<class>/<image>`` files (through the content-keyed cache)."""
    source = resolve_source(path)
    fingerprint, files = _content_hash(source)
    key = hashlib.sha256(f"{CACHE_VERSION}\0{fingerprint}".encode()).hexdigest()
    cached = cache_dir() / f"{key}.safetensors"
    loaded = _load_cache(cached) if cache and cached.is_file() else None
    if loaded is None:
        images, labels, paths, skipped = _decode_all(source, files or list(source.files()))
        shapes = torch.tensor([t.shape[1:] for t in images], dtype=torch.int64)
        tensors = {"pixels": torch.cat([t.reshape(-1) for t in images]), "shapes": shapes}
        meta = {"labels": labels, "paths": paths, "skipped": skipped}
        if cache:
            try:
                _save_cache(cached, tensors, meta)
            except OSError as exc:
                log.warning("cannot write the image cache %s (%s)", cached, exc)
    else:
        tensors, meta = loaded
    dataset = ImageDataset(
        _stack(tensors["pixels"], tensors["shapes"]),
        meta["labels"],
        meta["paths"],
        source.display(),
        fingerprint,
        meta["skipped"],
    )
    for message in dataset.skipped:
        log.warning("skipped %s", message)
    if dataset.skipped:
        log.warning("%s: skipped %d files", dataset.source, len(dataset.skipped))
    return dataset

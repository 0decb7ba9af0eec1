import logging
import random
import tarfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.image.conftest import SHAPES, draw_shape, write_shapes
from textcnn.errors import DataError
from textcnn.image import data as image_data
from textcnn.image.data import read_image_dataset, split_names


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_shapes(tmp_path / "shapes", per_class=4, seed=3)


def no_decoding(*_: object) -> None:
    raise AssertionError("decoded again instead of reading the cache")


def test_a_folder_reads_as_classes_and_uint8_images(folder: Path) -> None:
    data = read_image_dataset(folder)
    assert len(data) == 12
    assert sorted(set(data.labels)) == list(SHAPES)
    assert data.items.shape == (12, 3, 32, 32) and data.items.dtype == torch.uint8
    assert data.paths[0] == str(folder / "circle" / "000.png")
    assert len(data.fingerprint) == 64 and not data.skipped


def test_a_tar_and_a_folder_inside_a_tar_read_like_the_folder(folder: Path) -> None:
    archive = folder.parent / "shapes.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="train")
    expected = read_image_dataset(folder)
    assert split_names(archive) == ["train"]
    inner = read_image_dataset(archive / "train")
    assert torch.equal(inner.items, expected.items)
    assert inner.labels == expected.labels
    assert inner.paths[0] == f"{archive}/train/circle/000.png"
    with pytest.raises(DataError, match="point at one of them"):
        read_image_dataset(archive)


def test_decoded_images_are_cached_by_content(
    folder: Path, image_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = read_image_dataset(folder)
    assert list(image_cache.glob("images/*.safetensors"))
    monkeypatch.setattr(image_data, "decode", no_decoding)
    again = read_image_dataset(folder)
    assert torch.equal(first.items, again.items) and first.labels == again.labels
    draw_shape("circle", random.Random(9)).save(folder / "circle" / "000.png")
    with pytest.raises(AssertionError, match="decoded again"):
        read_image_dataset(folder)


def test_bad_files_are_skipped_with_a_warning_naming_each_path(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (folder / "circle" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 garbage")
    good = (folder / "square" / "000.png").read_bytes()
    (folder / "square" / "truncated.png").write_bytes(good[: len(good) // 2])
    (folder / "triangle" / "notes.txt").write_text("not an image")
    (folder / "stray.png").write_bytes(good)
    with caplog.at_level(logging.WARNING):
        data = read_image_dataset(folder)
    assert len(data) == 12
    for name in ("circle/corrupt.jpg", "square/truncated.png", "triangle/notes.txt", "stray.png"):
        assert any(str(folder / name) in record.getMessage() for record in caplog.records), name
    assert len(data.skipped) == 4
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        read_image_dataset(folder)  # from the cache: the same warnings
    assert sum("skipped /" in r.getMessage() for r in caplog.records) == 4


def test_a_class_left_without_images_is_fatal(folder: Path) -> None:
    for path in (folder / "square").iterdir():
        path.write_bytes(b"broken")
    with pytest.raises(DataError, match="square: no readable images"):
        read_image_dataset(folder)


def test_missing_and_empty_sources(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such folder"):
        read_image_dataset(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        read_image_dataset(tmp_path / "empty")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DataError, match="not a folder or a tar"):
        read_image_dataset(tmp_path / "file.txt")


def test_images_of_different_sizes_are_kept_at_their_own_size(tmp_path: Path) -> None:
    for label, size in (("a", (20, 30)), ("b", (50, 40))):
        (tmp_path / label).mkdir()
        Image.new("RGB", size, (10, 20, 30)).save(tmp_path / label / "x.png")
    data = read_image_dataset(tmp_path)
    assert [tuple(t.shape) for t in data.items] == [(3, 30, 20), (3, 40, 50)]
    again = read_image_dataset(tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(data.items, again.items, strict=True))

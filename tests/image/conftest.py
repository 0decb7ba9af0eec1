"""Fixtures for the image tests: generated coloured shapes and a small trained bundle."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from textcnn.engine.bundle import Bundle
from textcnn.engine.trainer import TrainConfig
from textcnn.image.data import read_image_dataset
from textcnn.image.train import ImageTrainOptions
from textcnn.modalities import get_modality

SHAPES = ("circle", "square", "triangle")


def draw_shape(shape: str, rng: random.Random, size: int = 32) -> Image.Image:
    """A filled shape of random colour, size and position on a random background."""
    background = tuple(rng.randrange(256) for _ in range(3))
    image = Image.new("RGB", (size, size), background)
    colour = tuple((c + rng.randrange(96, 160)) % 256 for c in background)
    side = rng.randint(size // 2, size - 6)
    x0, y0 = rng.randint(1, size - side - 1), rng.randint(1, size - side - 1)
    box = (x0, y0, x0 + side, y0 + side)
    draw = ImageDraw.Draw(image)
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    else:
        draw.polygon([(x0, y0 + side), (x0 + side, y0 + side), (x0 + side // 2, y0)], fill=colour)
    return image


def write_shapes(root: Path, per_class: int, seed: int) -> Path:
    """``root/<shape>/<n>.png|jpg|bmp`` images."""
    rng = random.Random(seed)
    for shape in SHAPES:
        (root / shape).mkdir(parents=True)
        for i in range(per_class):
            ext = ("png", "jpg", "bmp")[i % 3]
            draw_shape(shape, rng).save(root / shape / f"{i:03d}.{ext}")
    return root


@pytest.fixture(scope="session")
def image_cache(session_cache: Path) -> Path:
    """The decode cache of the image tests (the session's, out of the home directory)."""
    return session_cache


@pytest.fixture(scope="session")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A split root: ``train/`` (60 a class) and ``test/`` (20 a class) of coloured shapes."""
    root = tmp_path_factory.mktemp("shapes")
    write_shapes(root / "train", 60, seed=1)
    write_shapes(root / "test", 20, seed=2)
    return root


def small_options(**train: object) -> ImageTrainOptions:
    """A tiny ResNet trained for seconds on one thread."""
    cfg = TrainConfig(
        epochs=10,
        batch_size=16,
        optimizer="adam",
        lr=3e-3,
        schedule="onecycle",
        label_smoothing=0.1,
        device="cpu",
        threads=1,
        progress=False,
    )
    for key, value in train.items():
        setattr(cfg, key, value)
    return ImageTrainOptions(arch="resnet", width=8, depth=(1, 0, 0), train=cfg)


@pytest.fixture(scope="session")
def image_bundle(shapes: Path) -> Bundle:
    return get_modality("image").train(  # with its stored evaluation
        read_image_dataset(shapes / "train"),
        small_options(),
        test=read_image_dataset(shapes / "test"),
    )

"""Fixtures for the service tests: a registry with the trained text model, apps, clients."""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from service.main import create_app
from service.settings import Settings
from textcnn.engine.bundle import Bundle
from textcnn.engine.trainer import TrainConfig
from textcnn.store import LocalStore

COLOURS = {"red": (200, 30, 30), "green": (30, 170, 40), "blue": (30, 40, 200)}


def colour_image(colour: str, rng: random.Random, size: int = 32) -> Image.Image:
    """A noisy image dominated by one colour: the task of the tiny image model."""
    base = COLOURS[colour]
    image = Image.new("RGB", (size, size))
    image.putdata([tuple(min(255, max(0, c + rng.randint(-40, 40))) for c in base)] * (size * size))
    return image


def encode_image(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def image_bundle() -> Bundle:
    """A LeNet-5 that tells red, green and blue 32x32 images apart (seconds on one thread)."""
    from textcnn.image.data import ImageDataset
    from textcnn.image.processor import pil_to_tensor
    from textcnn.image.train import ImageTrainOptions, train_image

    rng = random.Random(0)
    labels = [colour for colour in COLOURS for _ in range(20)]
    pixels = torch.stack([pil_to_tensor(colour_image(c, rng)) for c in labels])
    data = ImageDataset(pixels, labels, [f"{i}.png" for i in range(len(labels))], "colours", "x")
    cfg = TrainConfig(
        epochs=4, batch_size=10, optimizer="adam", lr=3e-3, device="cpu", progress=False
    )
    opts = ImageTrainOptions(arch="lenet5", width=4, flip=False, tta=False, train=cfg)
    return train_image(data, opts)


@pytest.fixture
def registry_root(tmp_path: Path, text_bundle: Bundle) -> Path:
    """A registry holding the keyword text model as ``text`` (version v1)."""
    root = tmp_path / "registry"
    LocalStore(root, create=True).publish("text", text_bundle)
    return root


@pytest.fixture
def make_settings(registry_root: Path) -> Callable[..., Settings]:
    """Test settings over ``registry_root``; no background polling unless asked."""

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {"registry": registry_root, "reload_interval": 0}
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def app(make_settings: Callable[..., Settings]) -> FastAPI:
    return create_app(make_settings())


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client

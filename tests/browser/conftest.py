"""Fixtures for the browser tests: Debian's chromium under Playwright, and a real
``textcnn serve`` of the demo models (the keyword text model and a digit image model)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.live_server import live_server
from textcnn.engine.bundle import Bundle
from textcnn.engine.trainer import TrainConfig
from textcnn.store import LocalStore

CHROMIUM = os.environ.get("TEXTCNN_CHROMIUM", "/usr/bin/chromium")
HOW = (
    "the browser tests need Debian's chromium and Playwright's Python package: "
    "`apt-get install chromium` and `pip install playwright` (never `playwright install`: "
    "the tests drive the system browser); scripts/test.sh installs both when run as root"
)
IMAGE_LIMIT = 4096  # bytes: small enough that a noise picture is refused with a message


@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scikit-learn's digits as 32-pixel PNG folders (``train/``, ``test/``)."""
    from textcnn.demo_data import write_digits

    root = tmp_path_factory.mktemp("digits") / "digits"
    write_digits(root)
    return root


@pytest.fixture(scope="session")
def digit_bundle(digits: Path) -> Bundle:
    """A small LeNet-5 on the digits (a few seconds on one thread)."""
    from textcnn.image.data import read_image_dataset
    from textcnn.image.options import ImageTrainOptions
    from textcnn.image.train import train_image

    cfg = TrainConfig(
        epochs=6, batch_size=64, optimizer="adam", lr=3e-3, device="cpu", progress=False, seed=0
    )
    opts = ImageTrainOptions(arch="lenet5", flip=False, tta=False, crop_padding=0, train=cfg)
    return train_image(read_image_dataset(digits / "train", cache=False), opts)


@pytest.fixture(scope="session")
def server(
    tmp_path_factory: pytest.TempPathFactory, text_bundle: Bundle, digit_bundle: Bundle
) -> Iterator[str]:
    """``textcnn serve`` of a registry holding ``text`` and ``image``; small image limit."""
    root = tmp_path_factory.mktemp("page-registry")
    store = LocalStore(root / "registry", create=True)
    store.publish("text", text_bundle)
    store.publish("image", digit_bundle)
    env = {"TEXTCNN_MAX_IMAGE_BYTES": str(IMAGE_LIMIT), "TEXTCNN_RELOAD_INTERVAL": "0"}
    with live_server(root / "registry", root, env=env) as url:
        yield url


def _missing(what: str) -> None:
    """Skip, saying how to get ``what``; fail where the browser is required (CI)."""
    message = f"{what}: {HOW}"
    if os.environ.get("TEXTCNN_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")  # Playwright's loop must end with the module: later tests
def browser() -> Iterator[object]:  # run asyncio.run() in this thread
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _missing(f"no chromium at {CHROMIUM}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()

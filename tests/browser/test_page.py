"""The page at / in a real chromium against a real ``textcnn serve``: text with highlighted
n-grams, a digit upload, a refused upload showing the server's message, the batch table."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.browser.conftest import IMAGE_LIMIT
from tests.service.conftest import encode_image

TIMEOUT = 15_000  # ms


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 900, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(server)
    page.wait_for_selector("#model option", state="attached")
    yield page
    context.close()


def test_first_load_is_same_origin_and_light(browser: Any, server: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    sizes: dict[str, int] = {}
    page.on("requestfinished", lambda r: sizes.__setitem__(r.url, r.sizes()["responseBodySize"]))
    page.goto(server, wait_until="networkidle")
    context.close()
    assert all(url.startswith(server) for url in sizes), sorted(sizes)  # no CDN
    assert {f"{server}/", f"{server}/static/app.js", f"{server}/static/style.css"} <= set(sizes)
    total = sum(sizes.values())
    print(f"page weight: {total} bytes over {len(sizes)} requests")
    assert total < 100_000


def test_typing_shows_label_bars_and_highlighted_ngrams(page: Any, tmp_path: Path) -> None:
    page.fill("#text", "i really loved this wonderful film")  # classifies as you type
    page.wait_for_selector("#text-bars .bar")
    assert page.inner_text("#text-bars .bar-label >> nth=0") == "positive"
    marks = page.locator("#highlight mark")
    assert marks.count() >= 1
    titles = [marks.nth(i).get_attribute("title") for i in range(marks.count())]
    assert any("loved" in t or "wonderful" in t for t in titles), titles
    assert "text v1" in page.inner_text("#text-meta")
    page.locator("#text-section").screenshot(path=tmp_path / "text-section.png")
    page.select_option("#top-k", "1")
    page.press("#text", "Enter")
    page.wait_for_function("document.querySelectorAll('#text-bars .bar').length === 1")
    page.screenshot(path=tmp_path / "text.png", full_page=True)


def test_uploading_a_digit_shows_its_label(page: Any, digits: Path, tmp_path: Path) -> None:
    digit = sorted((digits / "test" / "7").glob("*.png"))[0]
    page.set_input_files("#image", digit)
    page.wait_for_selector("#image-bars .bar")
    assert page.inner_text("#image-bars .bar-label >> nth=0") == "7"
    assert page.is_visible("#preview")
    assert "image v1" in page.inner_text("#image-meta")
    page.screenshot(path=tmp_path / "image.png", full_page=True)
    page.locator("#image-section").screenshot(path=tmp_path / "image-section.png")


def test_refused_uploads_show_the_servers_message(page: Any, tmp_path: Path) -> None:
    rng = random.Random(0)
    noise = Image.frombytes("RGB", (64, 64), bytes(rng.randrange(256) for _ in range(64 * 64 * 3)))
    data = encode_image(noise)
    assert IMAGE_LIMIT < len(data) < IMAGE_LIMIT + 64 * 1024  # refused by the route, not the proxy
    page.set_input_files("#image", {"name": "noise.png", "mimeType": "image/png", "buffer": data})
    page.wait_for_selector("#image-error:not(:empty)")
    error = page.inner_text("#image-error")
    assert error.startswith("413") and str(IMAGE_LIMIT) in error, error
    assert page.locator("#image-bars .bar").count() == 0
    page.screenshot(path=tmp_path / "refused.png", full_page=True)
    page.set_input_files("#image", {"name": "a.png", "mimeType": "image/png", "buffer": b"hello"})
    page.wait_for_function("document.querySelector('#image-error').textContent.startsWith('415')")
    assert "not a decodable image" in page.inner_text("#image-error")


def test_the_batch_table_fills_sorts_and_downloads(page: Any, tmp_path: Path) -> None:
    lines = ["what a wonderful day", "the food was awful", "where is the store", "superb film"]
    page.fill("#batch", "\n".join(lines) + "\n\n")
    page.click("#batch-run")
    page.wait_for_selector("#batch-table tbody tr")
    rows = page.locator("#batch-table tbody tr")
    assert rows.count() == len(lines)
    labels = [rows.nth(i).locator("td").nth(2).inner_text() for i in range(len(lines))]
    assert labels == ["positive", "negative", "question", "positive"]
    page.click("#batch-table th button[data-key=label]")
    first = [rows.nth(i).locator("td").nth(2).inner_text() for i in range(len(lines))]
    assert first == sorted(labels)
    with page.expect_download() as download:
        page.click("#batch-csv")
    csv = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert csv[0] == "line,text,label,score" and len(csv) == 1 + len(lines)
    page.screenshot(path=tmp_path / "batch.png", full_page=True)
    page.locator("#batch-section").screenshot(path=tmp_path / "batch-section.png")


def test_an_api_key_is_kept_for_the_session_and_sent(page: Any) -> None:
    page.fill("#api-key", "s3cret")
    page.press("#api-key", "Tab")  # `change` stores it
    assert page.evaluate("sessionStorage.getItem('textcnn-api-key')") == "s3cret"
    page.fill("#batch", "how is it")
    with page.expect_request("**/classify") as request:
        page.click("#batch-run")
    assert request.value.headers["authorization"] == "Bearer s3cret"
    page.reload()
    assert page.input_value("#api-key") == "s3cret"


def test_the_page_fits_a_phone_and_labels_every_control(browser: Any, server: str) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.goto(server)
    page.wait_for_selector("#model option", state="attached")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('input, select, textarea')]"
        ".filter((e) => !e.labels.length).map((e) => e.id)"
    )
    assert unlabelled == []
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") == "A"  # the header links first
    context.close()

"""Zero-downtime reload: new versions swap in under load; broken ones are refused."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings
from textcnn.engine.bundle import CONFIG_FILE, WEIGHTS_FILE, Bundle
from textcnn.store import LocalStore
from textcnn.store.base import made_current


def refresh(app: FastAPI, client: TestClient) -> None:
    """One poll of the model manager, on the app's event loop."""
    client.portal.call(app.state.manager.refresh)


def test_reload_under_concurrent_load_fails_no_request(
    registry_root: Path, text_bundle: Bundle, make_settings: Callable[..., Settings]
) -> None:
    app = create_app(make_settings(reload_interval=0.1))
    registry = LocalStore(registry_root)

    async def main() -> tuple[Counter, list[str]]:
        outcomes: Counter = Counter()
        versions: list[str] = []
        stop = asyncio.Event()
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

                async def hammer(i: int) -> None:
                    while not stop.is_set():
                        body = {"texts": [f"why was it {i}", "awful film"]}
                        r = await client.post("/classify", json=body)
                        outcomes[r.status_code] += 1
                        if r.status_code == 200:
                            versions.append(r.json()["version"])

                async def publish_then_stop() -> None:
                    await asyncio.sleep(0.3)
                    await asyncio.to_thread(registry.publish, "text", text_bundle)
                    deadline = time.monotonic() + 20
                    while "v2" not in versions[-8:] and time.monotonic() < deadline:
                        await asyncio.sleep(0.05)
                    await asyncio.sleep(0.2)
                    stop.set()

                await asyncio.gather(publish_then_stop(), *(hammer(i) for i in range(8)))
        return outcomes, versions

    outcomes, versions = asyncio.run(main())
    assert set(outcomes) == {200}, outcomes
    assert versions[0] == "v1" and versions[-1] == "v2"
    first_v2 = versions.index("v2")
    assert "v1" not in versions[first_v2 + 8 :]  # after the swap only in-flight ones end on v1


def test_a_corrupt_version_is_refused_and_the_old_keeps_serving(
    registry_root: Path, text_bundle: Bundle, app: FastAPI, client: TestClient
) -> None:
    registry = LocalStore(registry_root)
    version = registry.publish("text", text_bundle, make_current=False)
    weights = registry.version_dir("text", version) / WEIGHTS_FILE
    data = weights.read_bytes()  # its last 64 bytes flipped (they may be zeros already)
    weights.write_bytes(data[:-64] + bytes(b ^ 0xFF for b in data[-64:]))
    with registry.lock("text"):  # what a pointer to a damaged version looks like
        registry._write_pointer("text", made_current(registry.pointer("text"), version))
    for _ in range(3):  # refused once, then remembered: not loaded again every poll
        refresh(app, client)
    r = client.post("/classify", json={"text": "why"})
    assert (r.status_code, r.json()["version"]) == (200, "v1")
    (info,) = client.get("/models").json()["models"]
    assert info["version"] == "v1" and info["state"] == "serving"
    assert [x["version"] for x in info["refused"]] == ["v2"]
    assert "checksum mismatch" in info["refused"][0]["error"]
    assert "v2" in info["error"]
    metrics = client.get("/metrics").text
    assert 'textcnn_model_loads_total{model="text",outcome="refused"} 1.0' in metrics
    assert client.get("/ready").status_code == 200
    registry.rollback("text")
    refresh(app, client)
    assert client.get("/models").json()["models"][0]["error"] is None


def test_wrong_shapes_are_refused_for_a_bundle_directory(
    tmp_path: Path, text_bundle: Bundle
) -> None:
    directory = text_bundle.save(tmp_path / "bundle")
    app = create_app(Settings(bundles={"text": directory}, reload_interval=0))
    with TestClient(app) as client:
        served = client.get("/models").json()["models"][0]["version"]
        config = json.loads((directory / CONFIG_FILE).read_text())
        config["model"]["feature_maps"] += 1
        (directory / CONFIG_FILE).write_text(json.dumps(config))
        refresh(app, client)
        (info,) = client.get("/models").json()["models"]
        assert info["version"] == served
        assert "do not match" in info["refused"][0]["error"]
        assert client.post("/classify", json={"text": "why"}).status_code == 200
        text_bundle.save_atomic(directory)  # a good bundle replaces it: served on the next poll
        refresh(app, client)
        (info,) = client.get("/models").json()["models"]
        assert info["version"] not in (served, info["refused"][0]["version"])
        assert info["error"] is None


def test_the_poller_picks_up_a_promotion(
    registry_root: Path, text_bundle: Bundle, make_settings: Callable[..., Settings]
) -> None:
    registry = LocalStore(registry_root)
    registry.publish("text", text_bundle, make_current=False)
    with TestClient(create_app(make_settings(reload_interval=0.05))) as client:
        assert client.post("/classify", json={"text": "why"}).json()["version"] == "v1"
        registry.promote("text", "v2")
        deadline = time.monotonic() + 10
        while client.get("/ready").json()["models"]["text"] != "v2":
            assert time.monotonic() < deadline, "v2 was not picked up"
            time.sleep(0.05)
        assert client.post("/classify", json={"text": "why"}).json()["version"] == "v2"

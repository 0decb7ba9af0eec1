"""``textcnn serve`` for real: uvicorn workers on a free loopback port."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.settings import Settings
from tests.service.live_server import live_server
from tests.test_imports import modules_after
from textcnn.cli import build_parser
from textcnn.cli.serve import setting_overrides


@pytest.fixture
def server(registry_root: Path, tmp_path: Path) -> Iterator[str]:
    # TEXTCNN_MAX_BATCH_TEXTS from the environment; the flags set the rest
    with live_server(registry_root, tmp_path, {"TEXTCNN_MAX_BATCH_TEXTS": "4"}, 2) as url:
        yield url


def test_real_server(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        r = client.post("/classify", json={"texts": ["how was it", "superb day"]})
        assert r.status_code == 200
        assert [x["label"] for x in r.json()["results"]] == ["question", "positive"]
        r = client.post("/classify", json={"texts": ["a"] * 5})
        assert r.status_code == 422  # TEXTCNN_MAX_BATCH_TEXTS reached the workers
        r = client.post("/classify", content=b"{", headers={"content-type": "application/json"})
        assert r.status_code == 422
        assert client.get("/health").json() == {"status": "ok"}
        assert "textcnn_http_requests_total" in client.get("/metrics").text


def test_flags_become_settings() -> None:
    args = build_parser().parse_args(
        ["serve", "--registry", "reg", "--bundle", "a=/m/a", "--models", "a, b", "--workers", "2"]
    )
    values = setting_overrides(args)
    assert values["registry"] == str(Path("reg").absolute())
    assert values["bundles"] == {"a": "/m/a"}
    assert values["models"] == ["a", "b"]
    assert values["workers"] == 2
    assert "port" not in values


def serve_parser() -> argparse.ArgumentParser:
    (commands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return commands.choices["serve"]


def test_every_setting_but_the_keys_is_a_flag_with_its_default_and_description() -> None:
    actions = {a.dest: a for a in serve_parser()._actions}
    assert set(Settings.model_fields) - set(actions) == {"api_keys"}  # keys stay off `ps`
    for name, field in Settings.model_fields.items():
        if name in actions:
            assert actions[name].default is None, name  # unless given, the environment's
            shown = actions[name].help.replace("%%", "%")  # as argparse prints it
            assert field.description and field.description in shown, name
    assert "(default: 64)" in actions["max_batch_size"].help
    assert actions["precision"].choices == ("fp32", "bf16", "int8")


def test_the_flags_keep_their_names_and_new_ones_parse() -> None:
    args = build_parser().parse_args(
        ["serve", "--registry", "r", "--threads", "3", "--max-queue-ms", "5", "--no-page"]
    )
    assert setting_overrides(args) == {
        "registry": str(Path("r").absolute()),
        "torch_threads": 3,
        "max_queue_ms": 5.0,
        "page": False,
    }
    args = build_parser().parse_args(["serve", "--torch-threads", "2", "--metrics-auth"])
    assert setting_overrides(args) == {"torch_threads": 2, "metrics_auth": True}


def test_building_the_cli_imports_no_service_until_serve_is_used() -> None:
    build = "from textcnn.cli import build_parser\nparse = build_parser().parse_args\n"
    other = "parse(['models', 'list', '--registry', 's3://b/p'])"
    assert "service.settings" not in modules_after(build + other)
    assert "service.settings" in modules_after(build + "parse(['serve'])")

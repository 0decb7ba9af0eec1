"""The ways into Ray Serve that need no cluster: ``textcnn serve --ray`` refusing what it cannot
do, and ``deploy/ray/serve.yaml`` against Ray's schema and the code (the cluster itself:
``test_ray.py``)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from service.ray_app import APP, DEPLOYMENT, Replica
from service.settings import Settings
from tests.conftest import REPO
from textcnn.cli import main

CONFIG = REPO / "deploy" / "ray" / "serve.yaml"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--replicas", "2"], "--replicas needs --ray"),
        (["--ray", "--workers", "2"], "with --ray, run more --replicas"),
        (["--ray", "--replicas", "0"], "--replicas must be at least 1"),
    ],
)
def test_serve_refuses_flags_ray_cannot_honour(
    flags: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    for name in ("REGISTRY", "WORKERS"):  # what the command exports, restored afterwards
        monkeypatch.setenv(f"TEXTCNN_{name}", "")
    monkeypatch.setenv("TEXTCNN_WORKERS", "1")
    assert main(["serve", "--registry", "nowhere", *flags]) == 2
    assert message in capsys.readouterr().err


def test_serve_ray_without_the_extra_names_it() -> None:
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from textcnn.cli import main\n"
        "sys.exit(main(['serve', '--ray', '--registry', 'nowhere']))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 2
    assert "pip install 'textcnn[ray]'" in run.stderr


def test_the_serve_run_config_deploys_this_service() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    ServeDeploySchema.model_validate(config)  # Ray's own check of a `serve deploy` file
    (app,) = config["applications"]
    assert app["name"] == APP
    assert app["route_prefix"] == "/"
    assert [d["name"] for d in app["deployments"]] == [DEPLOYMENT]
    module, _, name = app["import_path"].partition(":")
    built = getattr(importlib.import_module(module), name)(app["args"])
    assert built._bound_deployment.func_or_class is Replica.func_or_class
    (settings,) = built._bound_deployment.init_args
    assert settings == Settings(**app["args"])
    assert settings.registry == "s3://textcnn/registry"

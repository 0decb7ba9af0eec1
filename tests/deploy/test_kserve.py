"""deploy/kserve/inferenceservice.yaml against the code: no cluster needed.

The predictor runs the image Compose builds with a command the CLI parses; its TEXTCNN_*
variables are settings (or the cache root textcnn reads), its AWS_* variables the ones boto3
reads, its port the one the service listens on, and its probes routes of the app that answer
as a probe expects.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import ENV_PREFIX, Settings
from tests.conftest import REPO
from tests.deploy.conftest import load_compose, parse_dockerfile
from textcnn.cache import cache_root
from textcnn.cli import build_parser
from textcnn.cli.serve import setting_overrides
from textcnn.engine.bundle import Bundle
from textcnn.store import LocalStore
from textcnn.store.s3 import parse_uri

MANIFEST = REPO / "deploy" / "kserve" / "inferenceservice.yaml"
[SERVICE] = list(yaml.safe_load_all(MANIFEST.read_text(encoding="utf-8")))
PREDICTOR = SERVICE["spec"]["predictor"]
[CONTAINER] = PREDICTOR["containers"]
RUNTIME = parse_dockerfile(REPO / "Dockerfile").runtime


def literal_env() -> dict[str, str]:
    return {e["name"]: e["value"] for e in CONTAINER["env"] if "value" in e}


def secret_env() -> dict[str, tuple[str, str]]:
    """Variable -> (Secret name, key) for the variables read from Secrets."""
    return {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in CONTAINER["env"]
        if "valueFrom" in e
    }


def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings `textcnn serve` starts with in the container: flags over the environment
    (the image's, then the manifest's)."""
    args = build_parser().parse_args(CONTAINER["command"][1:])
    assert args.command == "serve"
    for key in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(key)
    for key, value in (RUNTIME.env() | literal_env()).items():
        monkeypatch.setenv(key, value)
    return Settings(**setting_overrides(args))


def test_an_inference_service_with_one_custom_predictor() -> None:
    assert SERVICE["apiVersion"] == "serving.kserve.io/v1beta1"
    assert SERVICE["kind"] == "InferenceService"
    assert CONTAINER["name"] == "kserve-container"
    assert PREDICTOR["minReplicas"] >= 2, "replicas that follow one registry"
    assert "model" not in PREDICTOR, "a custom container, not a KServe model server"


def test_the_predictor_runs_the_image_compose_builds() -> None:
    assert CONTAINER["image"] == load_compose()["services"]["api"]["image"]
    assert CONTAINER["command"][0] == "textcnn"
    uid = re.search(r"--uid (\d+)", " ".join(RUNTIME.all("RUN")))
    assert uid and PREDICTOR["securityContext"]["runAsUser"] == int(uid.group(1))
    assert PREDICTOR["securityContext"]["runAsNonRoot"] is True


def test_the_service_listens_on_the_container_port(monkeypatch: pytest.MonkeyPatch) -> None:
    served = settings(monkeypatch)
    assert served.host == "0.0.0.0", "bind all interfaces, or the port is unreachable"
    [port] = CONTAINER["ports"]
    assert port["containerPort"] == served.port
    assert RUNTIME.all("EXPOSE") == [str(served.port)]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert CONTAINER[probe]["httpGet"]["port"] == served.port, probe


def test_the_environment_is_what_the_service_and_boto3_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    env = literal_env()
    textcnn = {k for k in [*env, *secret_env()] if k.startswith(ENV_PREFIX)}
    assert textcnn - fields == {f"{ENV_PREFIX}CACHE"}, "every other variable is a setting"
    monkeypatch.setenv(f"{ENV_PREFIX}CACHE", env[f"{ENV_PREFIX}CACHE"])
    assert cache_root() == Path(env[f"{ENV_PREFIX}CACHE"])
    mounts = {m["name"]: m["mountPath"] for m in CONTAINER["volumeMounts"]}
    volumes = {v["name"] for v in PREDICTOR["volumes"]}
    assert env[f"{ENV_PREFIX}CACHE"] in mounts.values() and set(mounts) <= volumes
    assert settings(monkeypatch).registry == env[f"{ENV_PREFIX}REGISTRY"]
    parse_uri(env[f"{ENV_PREFIX}REGISTRY"])  # an s3://bucket/prefix registry
    extras = parse_dockerfile(REPO / "Dockerfile").args["EXTRAS"].split(",")
    assert "s3" in extras, "the image needs textcnn[s3] for an s3:// registry"

    # the secret's variables, as boto3 reads them (a made-up secret: nothing is contacted)
    secrets = secret_env()
    assert set(secrets) == {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert {name for name, _ in secrets.values()} == {"textcnn-s3"}
    assert all(variable == key for variable, (_, key) in secrets.items())
    boto3 = pytest.importorskip("boto3")
    made_up = {name: f"value-of-{name.lower()}" for name in secrets}
    made_up["AWS_ENDPOINT_URL"] = "http://s3.example.test:8333"
    for name, value in {**made_up, "AWS_DEFAULT_REGION": env["AWS_DEFAULT_REGION"]}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.session.Session().client("s3")
    credentials = client._request_signer._credentials
    assert client.meta.endpoint_url == made_up["AWS_ENDPOINT_URL"]
    assert client.meta.region_name == env["AWS_DEFAULT_REGION"]
    assert credentials.access_key == made_up["AWS_ACCESS_KEY_ID"]
    assert credentials.secret_key == made_up["AWS_SECRET_ACCESS_KEY"]


def probe_path(name: str) -> str:
    return CONTAINER[name]["httpGet"]["path"]


def test_the_probes_answer_as_kubernetes_expects(tmp_path: Path, text_bundle: Bundle) -> None:
    """Ready only with every model loaded, live as soon as the server answers (a 404 would
    fail both); and the v2 inference route a KServe client calls answers."""
    empty = LocalStore(tmp_path / "empty", create=True)
    with TestClient(create_app(Settings(registry=empty.root))) as client:
        assert client.get(probe_path("readinessProbe")).status_code == 503
        assert client.get(probe_path("livenessProbe")).status_code == 200
    store = LocalStore(tmp_path / "registry", create=True)
    store.publish("text", text_bundle)
    with TestClient(create_app(Settings(registry=store.root))) as client:
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert client.get(probe_path(probe)).status_code == 200, probe
        text = {"name": "text", "shape": [1], "datatype": "BYTES", "data": ["what a day"]}
        r = client.post("/v2/models/text/infer", json={"inputs": [text]})
        assert r.status_code == 200, r.text
        assert {o["name"] for o in r.json()["outputs"]} >= {"label", "probabilities"}
    assert probe_path("readinessProbe") == "/v2/health/ready"  # the v2 protocol's own probes


def test_the_documented_secret_holds_what_the_predictor_reads() -> None:
    from tests.deploy.test_readme import shell_commands

    created = [
        c
        for c in shell_commands(REPO / "docs" / "multi-host.md")
        if c[:4] == ["kubectl", "create", "secret", "generic"]
    ]
    [command] = created
    keys = {w.split("=")[1] for w in command if w.startswith("--from-literal=")}
    secrets = secret_env()
    assert {name for name, _ in secrets.values()} == {command[4]}
    assert keys == {key for _, key in secrets.values()}

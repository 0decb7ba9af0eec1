"""API keys: off by default; on, every route but the probes (and /metrics unless asked) needs
a bearer key; keys from a setting or a file (plain or SHA-256)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings

TEXT = {"text": "why is it"}


def test_off_by_default(client: TestClient) -> None:
    assert client.post("/classify", json=TEXT).status_code == 200
    assert client.get("/models").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "securitySchemes" not in spec.get("components", {})
    assert "security" not in spec["paths"]["/classify"]["post"]


# With keys on, what each route answers without a key: the probes, the page that asks for
# the key, the API's description and (unless TEXTCNN_METRICS_AUTH) /metrics are open.
OPEN = {
    ("GET", "/health"),
    ("HEAD", "/health"),
    ("GET", "/ready"),
    ("HEAD", "/ready"),
    ("GET", "/v2/health/live"),
    ("GET", "/v2/health/ready"),
    ("GET", "/"),
    ("GET", "/static/{name}"),
    ("GET", "/metrics"),
}
DOCS = {
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("GET", "/openapi.json"),
}
OPEN |= DOCS
KEYED = {
    ("POST", "/classify"),
    ("POST", "/classify-image"),
    ("GET", "/models"),
    ("GET", "/models/{name}/report"),
    ("GET", "/v2"),
    ("GET", "/v2/models/{name}"),
    ("GET", "/v2/models/{name}/versions/{version}"),
    ("GET", "/v2/models/{name}/ready"),
    ("GET", "/v2/models/{name}/versions/{version}/ready"),
    ("POST", "/v2/models/{name}/infer"),
    ("POST", "/v2/models/{name}/versions/{version}/infer"),
}
PATH_VALUES = {"name": "text", "version": "v1"}


def test_keys_protect_everything_but_the_probes(make_settings: Callable[..., Settings]) -> None:
    """Every route of the app, with and without a key: the open ones answer without one,
    the others 401 without and not 401 with it."""
    app = create_app(make_settings(api_keys=["s3cret", "other"]))
    served = {(m, path) for path, methods in app.state.methods_by_path.items() for m in methods}
    assert served | DOCS == OPEN | KEYED  # a new route must be placed on one side
    with TestClient(app) as client:
        for method, template in sorted(KEYED):
            path = template.format(**PATH_VALUES)
            r = client.request(method, path, json=TEXT)
            assert r.status_code == 401, path
            assert r.headers["www-authenticate"] == 'Bearer realm="textcnn"'
            for key in ("s3cret", "other"):
                auth = {"Authorization": f"Bearer {key}"}
                assert client.request(method, path, json=TEXT, headers=auth).status_code != 401
        for method, template in sorted(OPEN):
            path = template.replace("{name}", "app.js")
            expected = 404 if path == "/static/app.js" else 200  # a page file that is absent
            assert client.request(method, path).status_code in (200, expected), path
        r = client.post("/classify", json=TEXT, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Bearer realm="textcnn", error="invalid_token"'
        r = client.post("/classify", json=TEXT, headers={"Authorization": "Basic czNjcmV0"})
        assert r.status_code == 401
        # /ready names the models and their versions only to a caller with a key
        assert client.get("/ready").json() == {"ready": True}
        wrong = {"Authorization": "Bearer wrong"}
        assert client.get("/ready", headers=wrong).json() == {"ready": True}
        auth = {"Authorization": "Bearer s3cret"}
        ready = client.get("/ready", headers=auth).json()
        assert ready["ready"] and ready["models"] == {"text": "v1"}
        assert "text" not in client.get("/v2/health/ready").text
        spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["apiKey"]["description"],
    }
    assert spec["paths"]["/classify"]["post"]["security"] == [{"apiKey": []}]
    assert spec["paths"]["/v2"]["get"]["security"] == [{"apiKey": []}]
    for path in ("/health", "/ready", "/metrics", "/v2/health/ready"):
        assert "security" not in spec["paths"][path]["get"], path


def test_without_keys_ready_names_the_models(client: TestClient) -> None:
    assert client.get("/ready").json()["models"] == {"text": "v1"}


def test_metrics_auth_and_a_key_file_with_digests(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    hashed = hashlib.sha256(b"hashed-key").hexdigest()
    keys.write_text(f"# team A\nplain-key\n\nsha256:{hashed}\n", encoding="utf-8")
    settings = make_settings(api_keys_file=keys, metrics_auth=True)
    with TestClient(create_app(settings)) as client:
        assert client.get("/metrics").status_code == 401
        for key in ("plain-key", "hashed-key"):
            auth = {"Authorization": f"Bearer {key}"}
            assert client.get("/metrics", headers=auth).status_code == 200
            assert client.get("/models", headers=auth).status_code == 200
        bad = {"Authorization": f"Bearer sha256:{hashed}"}  # the digest is not the key
        assert client.get("/models", headers=bad).status_code == 401


UNUSABLE = {  # form: (TEXTCNN_API_KEYS, TEXTCNN_API_KEYS_FILE's text or None for no file)
    "empty key": (["", "good-key"], None),
    "blank key": (["   "], None),
    "key with spaces around": ([" good-key"], None),
    "comment-only file": ([], "# keys go here\n\n   \n"),
    "empty file": ([], ""),
    "short digest": ([], "sha256:abc\n"),
    "digest not hex": ([], "good-key\nsha256:" + "zz" * 32 + "\n"),
    "a good key and an empty file": (["good-key"], ""),
}
WHY = {
    "empty key": "key 1 is empty or blank",
    "blank key": "key 1 is empty or blank",
    "key with spaces around": "key 1 starts or ends with whitespace",
    "comment-only file": "holds no key",
    "empty file": "holds no key",
    "short digest": "line 1: sha256: needs 64 hex digits",
    "digest not hex": "line 2: sha256: needs 64 hex digits",
    "a good key and an empty file": "holds no key",
}


@pytest.mark.parametrize("form", UNUSABLE)
def test_unusable_keys_refuse_to_start(
    make_settings: Callable[..., Settings], tmp_path: Path, form: str
) -> None:
    """Keys configured but unusable never mean "open": the settings refuse them, saying why."""
    keys, text = UNUSABLE[form]
    overrides: dict[str, object] = {"api_keys": keys}
    if text is not None:
        (tmp_path / "keys").write_text(text, encoding="utf-8")
        overrides["api_keys_file"] = tmp_path / "keys"
    with pytest.raises(ValueError, match=WHY[form]):
        create_app(make_settings(**overrides))


def test_a_missing_key_file_refuses_to_start(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="cannot read TEXTCNN_API_KEYS_FILE"):
        create_app(make_settings(api_keys_file=tmp_path / "missing"))


def test_a_key_file_emptied_after_the_settings_were_read(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """create_app reads the file again (a worker process starts from the environment)."""
    keys = tmp_path / "keys"
    keys.write_text("good-key\n", encoding="utf-8")
    settings = make_settings(api_keys_file=keys)
    keys.write_text("# rotated out\n", encoding="utf-8")
    with pytest.raises(ValueError, match="holds no key"):
        create_app(settings)


def test_the_guard_fails_closed_without_digests(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(api_keys=["good-key"]))
    with TestClient(app) as client:
        app.state.api_keys = []
        auth = {"Authorization": "Bearer good-key"}
        assert client.get("/models", headers=auth).status_code == 401
        assert client.get("/models").status_code == 401


def test_serve_exits_with_the_reason(registry_root: Path, tmp_path: Path) -> None:
    """A real ``textcnn serve`` with an empty key or a comment-only key file exits non-zero
    before it binds a port, and says why."""
    (tmp_path / "keys").write_text("# nobody yet\n", encoding="utf-8")
    for setting in (
        {"TEXTCNN_API_KEYS": '[""]'},
        {"TEXTCNN_API_KEYS_FILE": str(tmp_path / "keys")},
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTCNN_API_KEYS")}
        command = [sys.executable, "-m", "textcnn", "serve", "--registry", str(registry_root)]
        done = subprocess.run(
            [*command, "--port", "0"],
            env={**env, **setting},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2, done.stderr
        reason = "key 1 is empty or blank" if "TEXTCNN_API_KEYS" in setting else "holds no key"
        assert "invalid service settings" in done.stderr and reason in done.stderr
        assert "Uvicorn running" not in done.stderr


def test_405_lists_every_method_of_the_path(client: TestClient) -> None:
    for path in ("/health", "/ready"):
        r = client.post(path)
        assert r.status_code == 405
        assert r.headers["allow"] == "GET, HEAD"
    assert client.get("/classify").headers["allow"] == "POST"

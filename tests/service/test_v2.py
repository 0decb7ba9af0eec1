"""The Open Inference Protocol v2 through tritonclient, a client nobody here wrote, against a
real uvicorn server with a text and an image model."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from service.protocol_v2 import InferenceRequest, ProtocolError, input_elements, parse_request
from tests.service.conftest import colour_image, encode_image
from tests.service.live_server import live_server
from textcnn.engine.bundle import Bundle
from textcnn.store import LocalStore

TEXTS = ["how was it", "superb day", "where is it"]


@pytest.fixture(scope="module")
def server(
    text_bundle: Bundle,
    image_bundle: Bundle,
    multilabel_bundle: Bundle,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    root = tmp_path_factory.mktemp("v2")
    store = LocalStore(root / "registry", create=True)
    store.publish("text", text_bundle)
    store.publish("image", image_bundle)
    store.publish("tickets", multilabel_bundle)
    env = {"TEXTCNN_MAX_BATCH_TEXTS": "8", "TEXTCNN_RELOAD_INTERVAL": "0"}
    with live_server(root / "registry", root, env) as url:
        yield url


@pytest.fixture
def client(server: str) -> Iterator[triton.InferenceServerClient]:
    c = triton.InferenceServerClient(server.removeprefix("http://"), network_timeout=30)
    yield c
    c.close()


def bytes_input(name: str, items: list[bytes], binary: bool = True) -> triton.InferInput:
    tensor = triton.InferInput(name, [len(items)], "BYTES")
    tensor.set_data_from_numpy(np.array(items, dtype=object), binary_data=binary)
    return tensor


def rest_scores(results: list[dict], labels: list[str]) -> np.ndarray:
    return np.array([[dict((s["label"], s["score"]) for s in r["scores"])[k] for k in labels]
                     for r in results])  # fmt: skip


def test_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_server_metadata()["name"] == "textcnn"
    assert client.is_model_ready("text") and client.is_model_ready("image")
    assert not client.is_model_ready("nope")
    text = client.get_model_metadata("text")
    assert text["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    labels = text["parameters"]["labels"]
    assert {"question", "positive"} <= set(labels)
    assert text["outputs"][1] == {
        "name": "probabilities",
        "datatype": "FP32",
        "shape": [-1, len(labels)],
    }
    assert text["versions"] == ["v1"]
    image = client.get_model_metadata("image")
    assert image["inputs"][0]["name"] == "image"
    assert image["parameters"]["labels"] == ["blue", "green", "red"]
    with pytest.raises(InferenceServerException) as err:
        client.get_model_metadata("nope")
    assert err.value.status() == "404" and "unknown model 'nope'" in err.value.message()
    with pytest.raises(InferenceServerException) as err:
        client.get_model_metadata("text", model_version="v9")
    assert err.value.status() == "404"


def test_multi_label_inference_returns_label_sets(
    client: triton.InferenceServerClient, server: str
) -> None:
    meta = client.get_model_metadata("tickets")
    labels = meta["parameters"]["labels"]
    assert meta["parameters"]["multi_label"] is True
    assert len(meta["parameters"]["thresholds"]) == len(labels)
    assert meta["outputs"][-1] == {"name": "labels", "datatype": "BYTES", "shape": [-1]}
    outputs = [triton.InferRequestedOutput(n) for n in ("labels", "probabilities")]
    result = client.infer(
        "tickets", [bytes_input("text", [t.encode() for t in TEXTS])], outputs=outputs
    )
    rest = httpx.post(f"{server}/classify", json={"texts": TEXTS, "model": "tickets"})
    rest = rest.json()["results"]
    got = [json.loads(x) for x in result.as_numpy("labels").tolist()]
    assert got == [r["labels"] for r in rest]
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), rest_scores(rest, labels), rtol=1e-6
    )


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_text_inference_agrees_with_classify(
    client: triton.InferenceServerClient, server: str, binary: bool
) -> None:
    outputs = [
        triton.InferRequestedOutput(n, binary_data=binary) for n in ("label", "probabilities")
    ]
    result = client.infer(
        "text", [bytes_input("text", [t.encode() for t in TEXTS], binary)], outputs=outputs
    )
    labels = client.get_model_metadata("text")["parameters"]["labels"]
    found = [x.decode() if binary else x for x in result.as_numpy("label").tolist()]
    assert found == ["question", "positive", "question"]
    proba = result.as_numpy("probabilities")
    assert proba.dtype == np.float32 and proba.shape == (3, len(labels))
    rest = httpx.post(f"{server}/classify", json={"texts": TEXTS}).json()["results"]
    np.testing.assert_allclose(proba, rest_scores(rest, labels), rtol=1e-6)
    assert result.get_response()["model_version"] == "v1"


def test_image_inference_binary_and_base64(
    client: triton.InferenceServerClient, server: str
) -> None:
    rng = random.Random(3)
    files = [encode_image(colour_image(c, rng)) for c in ("red", "blue")]
    result = client.infer("image", [bytes_input("image", files)], model_version="v1")
    assert result.as_numpy("label").tolist() == [b"red", b"blue"]
    body = {
        "id": "req-1",
        "inputs": [
            {
                "name": "image",
                "shape": [2],
                "datatype": "BYTES",
                "data": [base64.b64encode(f).decode() for f in files],
            }
        ],
    }
    r = httpx.post(f"{server}/v2/models/image/infer", json=body)
    assert r.status_code == 200, r.text
    out = {o["name"]: o for o in r.json()["outputs"]}
    assert r.json()["id"] == "req-1" and out["label"]["data"] == ["red", "blue"]
    np.testing.assert_allclose(
        np.array(out["probabilities"]["data"]).reshape(2, 3),
        result.as_numpy("probabilities"),
        rtol=1e-6,
    )


def test_bad_requests_are_4xx_with_an_error(
    client: triton.InferenceServerClient, server: str
) -> None:
    def status(call: object) -> str:
        with pytest.raises(InferenceServerException) as err:
            call()  # type: ignore[operator]
        assert err.value.message()
        return err.value.status()

    text = bytes_input("text", [b"how was it"])
    assert status(lambda: client.infer("image", [text])) == "400"  # wrong input name
    assert status(lambda: client.infer("nope", [text])) == "404"
    assert status(lambda: client.infer("text", [bytes_input("text", [b"\xff\xfe"])])) == "400"
    assert status(lambda: client.infer("text", [bytes_input("text", [b"  "])])) == "400"
    assert status(lambda: client.infer("text", [bytes_input("text", [b"a"] * 9)])) == "400"
    numbers = triton.InferInput("text", [1], "FP32")
    numbers.set_data_from_numpy(np.zeros(1, dtype=np.float32))
    assert status(lambda: client.infer("text", [numbers])) == "400"
    image = bytes_input("image", [b"not an image"])
    assert status(lambda: client.infer("image", [image])) == "415"

    def tensor(name: str, shape: list[int], data: list[object]) -> bytes:
        return json.dumps({"inputs": [{"name": name, "shape": shape, "datatype": "BYTES",
                                       "data": data}]}).encode()  # fmt: skip

    for model, body in (
        ("text", b"{"),
        ("text", b'{"inputs": []}'),
        ("text", tensor("text", [2], ["a"])),  # shape and data disagree
        ("text", tensor("text", [1], [1])),  # not a string
        ("image", tensor("image", [1], ["%"])),  # not base64
    ):
        r = httpx.post(f"{server}/v2/models/{model}/infer", content=body)
        assert r.status_code == 400 and r.json()["error"], body
    r = httpx.post(
        f"{server}/v2/models/text/infer",
        content=b'{"inputs": []}',
        headers={"Inference-Header-Content-Length": "999"},
    )
    assert r.status_code == 400 and "Inference-Header-Content-Length" in r.json()["error"]
    metrics = httpx.get(f"{server}/metrics").text
    assert 'route="/v2/models/{name}/infer",status="400"' in metrics


def test_binary_tensors_that_run_past_their_data_are_refused() -> None:
    request = InferenceRequest.model_validate(
        {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES",
                     "parameters": {"binary_data_size": 9}}]}
    )  # fmt: skip
    with pytest.raises(ProtocolError, match="runs past"):
        input_elements(request.inputs[0], b"\x05\x00\x00\x00abc", 0)
    request.inputs[0].parameters = {"binary_data_size": 7}
    with pytest.raises(ProtocolError, match="runs past its data"):
        input_elements(request.inputs[0], b"\x05\x00\x00\x00abc", 0)
    with pytest.raises(ProtocolError, match="malformed"):
        parse_request(b'{"inputs": [{"name": 1}]}', None)

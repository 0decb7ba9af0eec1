"""The Open Inference Protocol v2 (KServe, Triton, Seldon, TorchServe) beside the REST routes.

A text model takes a ``BYTES`` input ``text`` of shape ``[N]``, an image model a ``BYTES``
input ``image`` of encoded files; both answer ``label`` (``BYTES [N]``) and ``probabilities``
(``FP32 [N, C]``, columns in the order of the metadata's ``parameters.labels``). Requests go
through the same models, batchers, limits and metrics as /classify; errors are the protocol's
``{"error": "..."}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from service.deps import ManagerDep, serving, shed_if_full
from service.inputs import InputRejected, input_type
from service.loader import LoadedModel, ModelManager
from service.protocol_v2 import (
    HEADER_LENGTH,
    InferenceRequest,
    InferenceResponse,
    LiveResponse,
    ModelMetadata,
    ModelReadyResponse,
    ProtocolError,
    ServerMetadata,
    ServerReadyResponse,
    input_elements,
    parse_request,
    response_body,
)
from service.responses import FastJSONResponse
from service.routing import readiness, served
from textcnn import __version__

PROTOCOL_ERRORS = {
    code: {
        "description": text,
        "content": {"application/json": {"example": {"error": "unknown model 'x'"}}},
    }
    for code, text in {
        400: "Malformed request.",
        404: "Unknown model or version.",
        413: "Body or image too large.",
        415: "Undecodable image.",
        503: "Model not loaded.",
    }.items()
}


class ProtocolRoute(APIRoute):
    """Answers every error raised while handling a request (dependencies included) as the
    protocol's ``{"error": "..."}``, keeping its status and headers; 422s become 400s."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except ProtocolError as exc:
                return FastJSONResponse({"error": str(exc)}, status_code=400)
            except RequestValidationError as exc:
                message = "; ".join(e.get("msg", "invalid") for e in exc.errors())
                return FastJSONResponse({"error": message}, status_code=400)
            except HTTPException as exc:
                return FastJSONResponse(
                    {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
                )

        return handle


router = APIRouter(prefix="/v2", tags=["inference protocol v2"], route_class=ProtocolRoute)
# health: open with API keys on, as /health and /ready are (README, API keys); the server's
# metadata, which names its version, is not a probe and needs a key
probe_router = APIRouter(prefix="/v2", tags=["inference protocol v2"], route_class=ProtocolRoute)


@router.get("", response_model=ServerMetadata, summary="Server metadata")
async def server_metadata() -> Any:
    return {"name": "textcnn", "version": __version__, "extensions": ["binary_tensor_data"]}


@probe_router.get("/health/live", response_model=LiveResponse, summary="Liveness")
async def live() -> Any:
    return {"live": True}


@probe_router.get(
    "/health/ready",
    response_model=ServerReadyResponse,
    responses={503: {"model": ServerReadyResponse, "description": "Not ready."}},
    summary="Readiness",
)
async def ready(manager: ManagerDep) -> Any:
    """200 when every configured model is loaded (as /ready), 503 otherwise."""
    is_ready, _ = readiness(manager)
    return FastJSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)


def _model(manager: ModelManager, request: Request) -> LoadedModel:
    """The model the path names, and its version if the path names one."""
    model = served(manager, request.path_params["name"])
    version = request.path_params.get("version")
    if version is not None and version != model.version:
        raise HTTPException(
            404, f"model {model.name!r} serves version {model.version!r}, not {version!r}"
        )
    return model


@router.get(
    "/models/{name}",
    response_model=ModelMetadata,
    responses={404: PROTOCOL_ERRORS[404]},
    summary="Model metadata",
)
@router.get("/models/{name}/versions/{version}", include_in_schema=False)
async def model_metadata(request: Request, manager: ManagerDep, name: str) -> Any:
    """Inputs and outputs; `parameters.labels` names the columns of `probabilities`."""
    model = _model(manager, request)
    labels = model.predictor.labels
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": f"textcnn_{model.predictor.modality}",
        "inputs": [{"name": model.modality.input_type, "datatype": "BYTES", "shape": [-1]}],
        "outputs": [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, len(labels)]},
            *(
                [{"name": "labels", "datatype": "BYTES", "shape": [-1]}]
                if model.predictor.multi_label
                else []
            ),
        ],
        "parameters": {"labels": labels, **_thresholds(model)},
    }


def _thresholds(model: Any) -> dict[str, Any]:
    """A multi-label model's per-label decision thresholds, in the order of ``labels``."""
    if not model.predictor.multi_label:
        return {}
    return {"multi_label": True, "thresholds": list(model.predictor.thresholds)}


@router.get(
    "/models/{name}/ready",
    response_model=ModelReadyResponse,
    summary="Model readiness",
    responses={404: PROTOCOL_ERRORS[404], 503: PROTOCOL_ERRORS[503]},
)
@router.get("/models/{name}/versions/{version}/ready", include_in_schema=False)
async def model_ready(request: Request, manager: ManagerDep, name: str) -> Any:
    """200 when the model has a version loaded."""
    model = _model(manager, request)
    return {"name": model.name, "ready": True}


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$defs`` references replaced by the definitions (an OpenAPI
    document resolves ``#/$defs/...`` from its own root, where there are none)."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


INFER_BODY = {
    "requestBody": {
        "required": True,
        "description": "JSON, or JSON followed by binary tensor data (the binary-data "
        "extension: `Inference-Header-Content-Length` is the JSON's length).",
        "content": {"application/json": {"schema": _inlined(InferenceRequest.model_json_schema())}},
    }
}


@router.post(
    "/models/{name}/infer",
    response_model=InferenceResponse,
    summary="Inference",
    responses=PROTOCOL_ERRORS,
    openapi_extra=INFER_BODY,
)
@router.post(
    "/models/{name}/versions/{version}/infer",
    include_in_schema=False,
)
async def infer(request: Request, name: str) -> Response:
    """Labels and probabilities for N texts or N encoded images; concurrent requests share
    batches with /classify's."""
    settings, manager = serving(request)
    shed_if_full(request)
    body, binary = parse_request(await request.body(), request.headers.get(HEADER_LENGTH))
    model = _model(manager, request)
    kind = input_type(model.modality.input_type)
    names = [t.name for t in body.inputs]
    if names != [kind.name]:
        raise ProtocolError(f"model {model.name!r} takes one input, {kind.name!r}, not {names}")
    elements, _ = input_elements(body.inputs[0], binary, 0)
    try:  # the limits of /classify and /classify-image, and as many inputs as /classify takes
        items = kind.checked([kind.from_element(e) for e in elements], settings)
    except InputRejected as exc:
        raise ProtocolError(f"input {kind.name!r}: {exc}") from None
    predictions = await model.predict(items)
    labels = model.predictor.labels
    probabilities = []
    for p in predictions:
        by_label = dict(p.scores)
        probabilities.extend(by_label[label] for label in labels)
    head: dict[str, Any] = {"model_name": model.name, "model_version": model.version}
    if body.id is not None:
        head["id"] = body.id
    outputs = [
        ("label", "BYTES", [len(items)], [p.label for p in predictions]),
        ("probabilities", "FP32", [len(items), len(labels)], probabilities),
    ]
    if model.predictor.multi_label:  # each text's labels over their thresholds, a JSON list
        chosen = [json.dumps(p.labels) for p in predictions]
        outputs.append(("labels", "BYTES", [len(items)], chosen))
    content, header_length = response_body(head, outputs, body)
    if header_length is None:
        return Response(content, media_type="application/json")
    return Response(
        content,
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(header_length)},
    )

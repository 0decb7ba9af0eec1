"""Health, readiness, model status, Prometheus metrics (and the benchmark's ceiling route)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from service.auth import may_read_models
from service.deps import ManagerDep, MetricsDep, SettingsDep, read_json, serving, shed_if_full
from service.errors import public_error
from service.inputs import model_limits
from service.loader import ModelState
from service.openapi import error_responses, json_request_body
from service.responses import FastJSONResponse
from service.routing import readiness
from service.schemas import (
    ClassifyRequest,
    ClassifyResponse,
    HealthResponse,
    ModelInfo,
    ModelsResponse,
    ReadinessResponse,
    RefusedVersion,
)
from service.settings import Settings

router = APIRouter(tags=["system"])  # behind the API keys, when there are keys
probe_router = APIRouter(tags=["system"])  # always open (README, API keys): probes
metrics_router = APIRouter(tags=["system"])  # behind the keys only with TEXTCNN_METRICS_AUTH


@probe_router.get("/health", response_model=HealthResponse, summary="Liveness")
@probe_router.head("/health", include_in_schema=False)  # load balancers often probe with HEAD
async def health() -> Any:
    """The process is up and answering."""
    return {"status": "ok"}


@probe_router.get(
    "/ready",
    response_model=ReadinessResponse,
    responses={503: {"model": ReadinessResponse, "description": "A configured model is missing."}},
    summary="Readiness",
)
@probe_router.head("/ready", include_in_schema=False)
async def ready(manager: ManagerDep, request: Request) -> Any:
    """200 when every configured model is loaded, 503 otherwise; both say what keeps a
    model from its current version (an unreachable registry, a refused version).

    Open with API keys on, since probes (load balancers, the kubelet, Docker's healthcheck)
    carry no key; so it then says only ready or not. The versions and errors, which tell a
    caller what the service holds and where from, come only with a valid key (or with keys
    off, when /models is open anyway)."""
    is_ready, versions = readiness(manager)
    if not await may_read_models(request):
        return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)
    errors = {
        name: public_error(state.error)
        for name, state in sorted(manager.states.items())
        if state.error
    }
    body = {
        "ready": is_ready,
        "models": versions,
        "errors": errors,
        "error": public_error(manager.error),
    }
    return body if is_ready else JSONResponse(body, status_code=503)


def model_info(state: ModelState, settings: Settings) -> ModelInfo:
    """What /models reports for one model: its source and state, and once a version is
    loaded, its modality, labels, training metrics and the input and queue limits it is
    served with. Never a path: errors go through ``public_error``."""
    refused = [
        RefusedVersion(version=v, error=public_error(e) or "", at=at)
        for v, (e, at) in state.refused.items()
    ]
    info = ModelInfo(
        name=state.name,
        source=state.source.label if state.source else "none",
        state="serving" if state.loaded else "unavailable",
        version=None,
        error=public_error(state.error),
        refused=refused,
    )
    if state.loaded is None:
        return info
    predictor, modality = state.loaded.predictor, state.loaded.modality
    bundle = predictor.bundle
    return info.model_copy(
        update={
            "version": state.loaded.version,
            "modality": modality.name,
            "arch": bundle.arch,
            "runtime": predictor.runtime.name if predictor.runtime else "torch",
            "precision": predictor.runtime.precision if predictor.runtime else predictor.precision,
            "token_table": bool(predictor.runtime and predictor.runtime.token_table),
            "explainable": state.loaded.explainable,
            "sentence_encoder": getattr(predictor.input_term, "sentence_encoder", None),
            "labels": predictor.labels,
            "multi_label": predictor.multi_label,
            "thresholds": predictor.thresholds,
            "temperature": None if predictor.multi_label else predictor.temperature,
            "metrics": {k: v for k, v in bundle.metrics.items() if not isinstance(v, dict | list)},
            "loaded_at": state.loaded.loaded_at,
            "limits": {
                **model_limits(modality, predictor.processor, settings),
                "max_queue_inputs": settings.max_queue_inputs,
                "max_queue_bytes": settings.max_queue_bytes,
                "max_queue_ms": settings.max_queue_ms,
            },
        }
    )


@router.get("/models", response_model=ModelsResponse, summary="Served models")
async def models(manager: ManagerDep, settings: SettingsDep) -> Any:
    """Each model: version served, modality, labels, training metrics, input and queue
    limits, and versions refused (failed to load) with the reason (never a file path)."""
    return {
        "defaults": settings.default_models(),
        "models": [model_info(state, settings) for _, state in sorted(manager.states.items())],
        "error": public_error(manager.error),
    }


@metrics_router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {
                CONTENT_TYPE_LATEST: {
                    "example": 'textcnn_http_requests_total{method="POST",route="/classify",'
                    'status="200"} 42.0\n'
                }
            },
            "description": "Prometheus text format.",
        }
    },
    summary="Prometheus metrics",
)
async def metrics(metrics: MetricsDep) -> Response:
    """Requests by route and status, latency and batch-size histograms, queue depth and the
    model versions loaded, for the worker process that answers."""
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


bench_router = APIRouter(tags=["benchmark"])
_CONSTANT = {
    "model": "noop",
    "version": "0",
    "results": [{"label": "noop", "score": 1.0, "scores": [{"label": "noop", "score": 1.0}]}],
}


@bench_router.post(
    "/bench/noop",
    response_model=ClassifyResponse,
    response_model_exclude_none=True,
    responses=error_responses(413, 415, 422),
    openapi_extra=json_request_body(ClassifyRequest, {"one": {"value": {"text": "hello"}}}),
    summary="Benchmark ceiling (TEXTCNN_BENCHMARK_ROUTE only)",
)
async def noop(request: Request) -> Any:
    """Takes a /classify body as /classify does (the queue check, the parse, the limits) and
    returns a constant: the cost of the HTTP stack alone, which `bench/serve_benchmark.py`
    compares /classify with."""
    settings, _ = serving(request)
    shed_if_full(request, "text")
    body = await read_json(request, ClassifyRequest)
    body.checked_texts(settings)
    return FastJSONResponse(_CONSTANT)

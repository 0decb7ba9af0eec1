"""The FastAPI application: ``create_app(settings)``.

``uvicorn --factory service.main:create_app`` builds it from ``TEXTCNN_*`` environment variables.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from service.auth import api_key_guard, key_digests
from service.limits import BodySizeLimitMiddleware
from service.loader import ModelManager
from service.metrics import Metrics, RequestMetricsMiddleware
from service.openapi import limit_request_schemas
from service.routes import classify, images, page, report, system, v2
from service.settings import Settings
from textcnn import __version__
from textcnn.engine.device import configure_cpu

log = logging.getLogger(__name__)
MAX_REPORTED_ERRORS = 20

DESCRIPTION = """Kim (2014) TextCNN text classification and CNN image classification, served
from a versioned model registry. Concurrent requests to a model share forward passes
(dynamic batching); new model versions are picked up without downtime."""


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with each error's location and a one-line ``message`` naming the fields (the first
    ``MAX_REPORTED_ERRORS``: a body of a thousand bad items gets a short answer)."""
    found = exc.errors()
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", "invalid"), "type": e.get("type")}
        for e in found[:MAX_REPORTED_ERRORS]
    ]
    message = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
    if len(found) > len(errors):
        message += f"; and {len(found) - len(errors)} more errors"
    return JSONResponse({"detail": errors, "message": message}, status_code=422)


async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
    """The client hung up before its body arrived: nobody to answer (logged as 499)."""
    log.debug("client disconnected during %s %s", request.method, request.url.path)
    return Response(status_code=499)


async def method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    """405 whose ``Allow`` lists every method served at the path: Starlette names only the
    first matching route's (``HEAD`` alone for /health, whose HEAD and GET are two routes)."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    methods = request.app.state.methods_by_path.get(path) or getattr(route, "methods", None)
    headers = {"Allow": ", ".join(sorted(methods or ()))}
    return JSONResponse({"detail": "Method Not Allowed"}, status_code=405, headers=headers)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal error"}, status_code=500)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    configure_cpu(settings.torch_threads)
    executor = ThreadPoolExecutor(settings.inference_threads, thread_name_prefix="inference")
    manager = ModelManager(settings, app.state.metrics, executor)
    app.state.manager = manager
    await manager.start()
    try:
        yield
    finally:
        await manager.stop()
        executor.shutdown(wait=False, cancel_futures=True)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service app; ``settings`` default to the environment's."""
    settings = settings or Settings()
    if not logging.getLogger().handlers:  # a uvicorn worker process: log like the CLI does
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    app = FastAPI(
        title="textcnn",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        exception_handlers={
            RequestValidationError: validation_error,
            ClientDisconnect: client_gone,
            405: method_not_allowed,
            Exception: unexpected_error,
        },
    )
    app.state.settings = settings
    generate_openapi = app.openapi

    def openapi() -> dict:
        """The schema, with request limits as configured (generated once)."""
        if app.openapi_schema is None:
            limit_request_schemas(generate_openapi(), settings)
        return app.openapi_schema

    app.openapi = openapi
    app.state.metrics = metrics = Metrics()
    app.state.api_keys = key_digests(settings)
    app.state.report_pages = report.ReportPages()
    guard = api_key_guard(settings)
    routers = [classify.router, images.router, system.router, v2.router, report.router]
    if settings.benchmark_route:  # matched right after /classify: the same routing cost
        routers.insert(1, system.bench_router)
    for router in routers:
        app.include_router(router, dependencies=guard)
    app.include_router(system.metrics_router, dependencies=api_key_guard(settings, metrics=True))
    open_routers = [system.probe_router, v2.probe_router, *([page.router] if settings.page else [])]
    for router in open_routers:  # probes, and the page that asks for the key
        app.include_router(router)
    routers += [system.metrics_router, *open_routers]
    image_body = settings.max_image_bytes + 64 * 1024  # + form or protocol overhead
    app.add_middleware(
        BodySizeLimitMiddleware,
        default=settings.max_body_bytes,
        by_path={"/classify-image": image_body},
        by_prefix={"/v2/models/": max(image_body, settings.max_body_bytes)},
    )
    paths = {route.path for router in routers for route in router.routes}
    app.state.methods_by_path = {
        path: {m for router in routers for r in router.routes if r.path == path for m in r.methods}
        for path in paths
    }
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics, paths=paths)
    return app

"""The service as Ray Serve replicas: the app of ``service.main.create_app``, wrapped with
``@serve.ingress``, once per replica (``textcnn serve --ray --replicas N``, or
``serve run deploy/ray/serve.yaml``; needs ``pip install 'textcnn[ray]'``).

New versions reach the replicas the way they reach uvicorn workers: each replica's
``ModelManager`` polls the registry's pointer and swaps the version in between requests.
Ray's ``reconfigure`` (a ``user_config`` naming the version) is not used, because the pointer
already is the one place that says which version is current: a retrain, promote or rollback
on any host moves it without access to the Ray cluster; a replica started later (a scale-up,
a replaced node) reads it when it starts; a ``user_config`` would need a second writer to keep
it equal to the pointer.

Every response names the replica and the Ray node that answered (``X-Ray-Replica``,
``X-Ray-Node``): where requests went is otherwise invisible behind Ray's proxy.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from typing import Any

import ray
from fastapi import FastAPI
from ray import serve
from ray.serve import Application
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.main import create_app
from service.settings import Settings
from textcnn.errors import TextCNNError

log = logging.getLogger(__name__)

APP = DEPLOYMENT = "textcnn"
REPLICA_HEADER = "x-ray-replica"
NODE_HEADER = "x-ray-node"
# Concurrent requests a replica takes from the proxy: its batcher coalesces them into forward
# passes and sheds past its own queue limits (Ray's default, 5, would starve the batches).
MAX_ONGOING_REQUESTS = 64


class ReplicaHeaders:
    """ASGI middleware: adds the replica's and its node's ids to every HTTP response."""

    def __init__(self, app: ASGIApp, replica: str, node: str) -> None:
        self.app = app
        self.headers = [
            (REPLICA_HEADER.encode(), replica.encode()),
            (NODE_HEADER.encode(), node.encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)


@serve.deployment(name=DEPLOYMENT, max_ongoing_requests=MAX_ONGOING_REQUESTS)
@serve.ingress()
class Replica:
    """One replica: the service app with ``settings``. Ray Serve runs its lifespan, which loads
    the models (the replica takes traffic once they are loaded) and starts the registry poll."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __serve_build_asgi_app__(self) -> FastAPI:
        app = create_app(self.settings)
        replica = serve.get_replica_context().replica_id.unique_id
        node = ray.get_runtime_context().get_node_id()
        app.add_middleware(ReplicaHeaders, replica=replica, node=node)
        return app


def application(settings: Settings, replicas: int = 1) -> Application:
    """The deployment with ``replicas`` replicas of the app, ready for ``serve.run``."""
    return Replica.options(num_replicas=replicas).bind(settings)


def build(args: dict[str, Any]) -> Application:
    """``serve run``'s entry (``import_path: service.ray_app:build``): ``args`` are settings
    (``registry``, ``reload_interval``, ...) over the ``TEXTCNN_*`` environment."""
    return Replica.bind(Settings(**args))


def run(settings: Settings, replicas: int) -> None:
    """Deploy ``replicas`` replicas behind Ray's HTTP proxy on ``settings.host:port`` and serve
    until interrupted (Ctrl-C, SIGTERM); then delete the application.

    ``ray.init`` joins the cluster of ``RAY_ADDRESS`` or of ``ray start`` on this host, else
    starts a local one (stopped on exit). Serve already running on the cluster keeps its own
    HTTP options.
    """
    try:
        ray.init(logging_level=settings.log_level.upper())
    except Exception as exc:  # Ray raises bare Exceptions: an unreachable or starved cluster
        raise TextCNNError(f"cannot start or join a Ray cluster: {exc}") from None
    # after ray.init, which installs a handler that aborts the process
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        serve.start(http_options={"host": settings.host, "port": settings.port})
        serve.run(application(settings, replicas), name=APP, route_prefix="/")
        log.info("serving %d Ray Serve replica(s) on %s:%s", replicas, settings.host, settings.port)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        serve.delete(APP)
        ray.shutdown()

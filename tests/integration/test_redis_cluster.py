"""The whole backend contract, the foreign-producer inbox and a bridge on a real three-node
Redis Cluster that the test starts itself: queues land on different nodes, and a script
that touched a key outside its queue's slot would fail with a cross-slot error."""

from __future__ import annotations

import inspect
import json
import random
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from quantq import envelope
from quantq.backends.redis import RedisBackend
from quantq.bridges import open_bridge
from tests.conformance import test_backend_contract as contract
from tests.services import in_ci

CONTRACT: list[Callable[..., Any]] = [fn for name, fn in inspect.getmembers(contract, inspect.isfunction) if name.startswith("test_")]


def _free_ports(n: int) -> list[int]:
    """Ports whose cluster bus port (port + 10000) is free too, so both stay below 65536."""
    ports: list[int] = []
    for port in random.sample(range(20000, 30000), 200):
        if len(ports) == n:
            break
        if all(_is_free(p) for p in (port, port + 10000)):
            ports.append(port)
    return ports


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        if in_ci():
            pytest.fail("redis-server / redis-cli are not installed")
        pytest.skip("redis-server / redis-cli are not installed")
    workdir: Path = tmp_path_factory.mktemp("cluster")
    ports = _free_ports(3)
    procs = []
    for port in ports:
        node = workdir / str(port)
        node.mkdir()
        procs.append(subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", str(node / "nodes.conf"), "--save", "", "--appendonly", "no", "--dir", str(node)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
    try:
        for port in ports:
            _wait_port(port)
        subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports], "--cluster-replicas", "0",
                        "--cluster-yes"], check=True, capture_output=True, timeout=30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            states = [subprocess.run(["redis-cli", "-p", str(p), "cluster", "info"], capture_output=True, text=True).stdout for p in ports]
            if all("cluster_state:ok" in s for s in states):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the cluster did not come up")
        yield f"redis://127.0.0.1:{ports[0]}/0?cluster=true"
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(5)


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"redis-server on {port} did not start")


@pytest.fixture
def backend(cluster_url: str) -> Iterator[RedisBackend]:
    opened = RedisBackend(f"{cluster_url}&prefix=c{uuid.uuid4().hex[:8]}")
    yield opened
    opened.close()


@pytest.mark.parametrize("case", CONTRACT, ids=[fn.__name__ for fn in CONTRACT])
def test_the_contract_holds_on_a_three_node_cluster(case: Callable[..., Any], backend: RedisBackend) -> None:
    case(backend)


def test_queues_spread_over_nodes_and_the_inbox_works(backend: RedisBackend) -> None:
    nodes = {backend.client.get_node_from_key(backend.keys.ready(q)).name for q in ("default", "research", "alpha", "beta", "other")}
    assert len(nodes) >= 2  # the test really crosses nodes
    backend.client.lpush(backend.keys.inbox("research"), json.dumps({"id": "c-1", "task": "quantq.echo", "args": {"n": 1}}), "{bad")
    [claim] = backend.claim(["research", "default"], worker_id="w", hostname="h", lease=30, limit=5)
    assert claim.job_id == "c-1"
    assert backend.complete(claim, {"n": 1}).result == {"n": 1}
    assert backend.client.hget(backend.keys.job("research", "c-1"), "status") == "completed"
    assert "not valid JSON" in backend.dead_letters("research")[0]["reason"]


def test_a_bridge_runs_on_the_cluster(backend: RedisBackend) -> None:
    runner = open_bridge("seed001", backend, routes={"backtest": "quantq.echo"})
    client = backend.client
    try:
        client.lpush("strategy_queue", json.dumps({"task_id": "cl-1", "task_type": "backtest", "args": {"x": 1}}))
        raw = client.blmove("strategy_queue", runner.processing, 1, "RIGHT", "LEFT")  # one slot: allowed on a cluster
        assert runner.handle(raw) == "seed001.cl-1"
        [claim] = backend.claim(["default"], worker_id="w", hostname="h", lease=30)
        backend.complete(claim, {"x": 1})
        runner.sync()
        assert json.loads(client.get("task_result:cl-1"))["status"] == "completed"
    finally:
        for key in ("strategy_queue", "task_result:cl-1", runner.processing, runner.pending):
            client.delete(key)


def test_an_envelope_reaches_the_right_node() -> None:
    job = envelope.parse_submission({"task": "quantq.noop", "queue": "research"})
    assert job.queue == "research"

"""HTTP API throughput and latency: one API process, a load generator, a worker process.

    .venv/bin/python bench/bench_api.py                      # sqlite, and redis when reachable
    .venv/bin/python bench/bench_api.py --backends sqlite --seconds 5 --concurrency 4

Per backend it measures, over HTTP against ``python -m quantq.api`` in its own process:
  * submissions per second (POST /api/jobs, ``--concurrency`` clients for ``--seconds``),
  * p50 / p99 latency of a submit and of a status read (GET /api/jobs/{id}),
  * p50 / p99 of submit -> result visible (POST, then GET .../result until 200) with a
    ``quantq worker`` process running (one job at a time, so the figure is pure latency).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_ready(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the API at {base} did not come up")


async def load(base: str, seconds: float, concurrency: int) -> tuple[int, float, list[float], list[str]]:
    latencies: list[float] = []
    ids: list[str] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        deadline = time.perf_counter() + seconds

        async def one(n: int) -> None:
            i = 0
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                r = await client.post("/api/jobs", json={"task": "quantq.noop", "queue": "bench", "meta": {"c": n, "i": i}})
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 201:
                    raise SystemExit(f"submit failed: {r.status_code} {r.text[:200]}")
                ids.append(r.json()["id"])
                i += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return len(latencies), elapsed, latencies, ids


async def reads(base: str, ids: list[str], count: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        async def one() -> None:
            for _ in range(count // concurrency):
                t0 = time.perf_counter()
                r = await client.get(f"/api/jobs/{random.choice(ids)}")
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise SystemExit(f"read failed: {r.status_code}")

        await asyncio.gather(*(one() for _ in range(concurrency)))
    return latencies


def end_to_end(base: str, jobs: int) -> list[float]:
    out = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for i in range(jobs):
            t0 = time.perf_counter()
            job_id = client.post("/api/jobs", json={"task": "quantq.echo", "args": {"i": i}}).json()["id"]
            while client.get(f"/api/jobs/{job_id}/result").status_code != 200:
                if time.perf_counter() - t0 > 30:
                    raise SystemExit("a job did not complete within 30 s: is the worker running?")
                time.sleep(0.002)
            out.append(time.perf_counter() - t0)
    return out


def redis_url() -> str | None:
    url = os.environ.get("QUANTQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:
        return None
    return url


def bench_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "QUANTQ_URL": url, "QUANTQ_API_RATE": "0"}
    env.pop("QUANTQ_API_KEYS", None)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = start([sys.executable, "-m", "quantq.api", "--url", url, "--port", str(port)], env)
    worker = None
    try:
        wait_ready(base)
        count, elapsed, submit_lat, ids = asyncio.run(load(base, args.seconds, args.concurrency))
        read_lat = asyncio.run(reads(base, ids, args.reads, args.concurrency))
        worker = start([sys.executable, "-m", "quantq", "worker", "--queues", "default", "--concurrency", "2",
                        "--mode", "thread", "--poll-interval", "0.5", "--status-interval", "0"], env)
        deadline = time.monotonic() + 60  # the worker's start-up is not part of the latency
        while not httpx.get(f"{base}/api/workers").json()["workers"]:
            if time.monotonic() > deadline:
                raise SystemExit("the worker did not register within 60 s")
            time.sleep(0.1)
        end_to_end(base, 3)  # warm-up
        e2e = end_to_end(base, args.e2e)
    finally:
        if worker is not None:
            stop(worker)
        stop(api)
    return {"backend": name, "submitted": count, "rate": count / elapsed, "submit": submit_lat, "read": read_lat, "e2e": e2e}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,redis")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--e2e", type=int, default=50)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="quantq-bench-api-"))
    rows = []
    try:
        for name in args.backends.split(","):
            if name == "sqlite":
                url = f"sqlite:///{tmp}/bench.db"
            elif name == "redis":
                base = redis_url()
                if base is None:
                    print("redis: not reachable, skipped", file=sys.stderr)
                    continue
                url = f"{base}{'&' if '?' in base else '?'}prefix=qqbench-{uuid.uuid4().hex[:8]}"
            else:
                raise SystemExit(f"unknown backend {name!r} (sqlite, redis)")
            rows.append(bench_backend(name, url, args))
            if name == "redis":
                import redis

                client = redis.Redis.from_url(url.split("?")[0])
                for key in client.scan_iter(match=f"{url.split('prefix=')[1]}*", count=1000):
                    client.delete(key)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ms = 1000.0
    print(f"\nquantq HTTP API: 1 API process, {args.concurrency} concurrent clients for {args.seconds:g}s, "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    header = (f"{'backend':<8} {'submits':>8} {'submits/s':>10} {'submit p50':>11} {'submit p99':>11} "
              f"{'read p50':>9} {'read p99':>9} {'submit->result p50':>19} {'p99':>8}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['backend']:<8} {r['submitted']:>8} {r['rate']:>10.0f} {pct(r['submit'], 50) * ms:>9.1f}ms "
              f"{pct(r['submit'], 99) * ms:>9.1f}ms {pct(r['read'], 50) * ms:>7.1f}ms {pct(r['read'], 99) * ms:>7.1f}ms "
              f"{pct(r['e2e'], 50) * ms:>17.1f}ms {pct(r['e2e'], 99) * ms:>6.1f}ms")


if __name__ == "__main__":
    main()

"""quantq on Redis against its peers, side by side on one redis-server of the benchmark's own.

    .venv/bin/pip install 'quantq[bench]'   # rq, dramatiq, celery, arq, saq, huey, taskiq, streaq (benchmark only)
    apt-get install ruby-sidekiq                       # Sidekiq (Debian's); BullMQ: npm ci of bench/package-lock.json on first use
    .venv/bin/python bench/bench_redis.py [--jobs 20000] [--peers sidekiq,bullmq,rq,rq-simple,dramatiq,celery,arq,saq,huey,taskiq,streaq,reference]
                                          [--listing-jobs 1000000] [--rounds 2]

For quantq: enqueue rate of no-op jobs (one per call, and bulk), drain rate with one worker
process and with the best configuration on two cores, p50/p99 latency of single jobs through
an idle worker (from making the job and enqueueing it to the ``completed`` event; Sidekiq's and
BullMQ's too, each through an idle worker of its own), Redis CPU per job (the server's
``used_cpu_user + used_cpu_sys`` from ``INFO cpu`` before and after each drain, for every
system) and ``redis-benchmark``'s ceiling on the same server.  Each peer is
used with its documented defaults: one enqueue per call (bulk where it has an API) and a drain
by one worker process (and two for quantq, Sidekiq and BullMQ).  Every drain is timed the same
way: from the first job taken (start-up excluded) until the queue is empty.  ``--rounds N``
measures every system N times, later rounds in the reverse order, one column per round: on a
shared machine the load drifts within a run, and a single column can flatter anyone.  The same module is
the Python peers' task module (their workers import it with ``bench/`` on the path).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")

# ---- the peers' tasks (imported by their workers) ----------------------------------------

def rq_noop() -> None:
    """RQ's job (RQ's burst mode tells when the queue is drained: no counter)."""


if os.environ.get("BENCH_PEER") == "dramatiq":
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    dramatiq.set_broker(RedisBroker(url=URL))

    @dramatiq.actor(queue_name="bench", max_retries=0)
    def dramatiq_noop() -> None:
        pass

if os.environ.get("BENCH_PEER") == "celery":
    from celery import Celery

    celery_app = Celery("bench", broker=URL)
    celery_app.conf.update(task_ignore_result=True, worker_hijack_root_logger=False, broker_connection_retry_on_startup=True)

    @celery_app.task(name="bench.noop")
    def celery_noop() -> None:
        pass


async def arq_noop(ctx: dict[str, Any]) -> None:
    """arq's job (burst mode tells when the queue is drained)."""


class ArqSettings:
    functions = [arq_noop]
    max_jobs = 50

    @staticmethod
    def redis_settings_from_url() -> Any:
        from arq.connections import RedisSettings

        return RedisSettings.from_dsn(URL)


if os.environ.get("BENCH_PEER") == "arq":
    ArqSettings.redis_settings = ArqSettings.redis_settings_from_url()  # type: ignore[attr-defined]


async def saq_noop(ctx: dict[str, Any]) -> None:
    """SAQ's job."""


def saq_settings() -> dict[str, Any]:
    """SAQ's worker settings (``saq bench_redis.saq_settings``: SAQ calls a callable for its dict)."""
    from saq import Queue

    return {"queue": Queue.from_url(URL, name="bench"), "functions": [saq_noop], "concurrency": 10}


if os.environ.get("BENCH_PEER") == "huey":
    from huey import RedisHuey

    huey_app = RedisHuey("bench", url=URL)

    def huey_noop() -> None:
        pass

    # Huey names a task after its function's module: the enqueuer loads this file as
    # bench_redis_huey and the consumer as bench_redis, so both are given the same one.
    huey_noop.__module__ = "bench_redis"
    huey_noop = huey_app.task()(huey_noop)

if os.environ.get("BENCH_PEER") == "taskiq":
    from taskiq_redis import RedisStreamBroker

    taskiq_broker = RedisStreamBroker(url=URL, queue_name="bench")  # taskiq-redis's documented broker (acknowledged)

    @taskiq_broker.task(task_name="bench.noop")
    async def taskiq_noop() -> None:
        pass

if os.environ.get("BENCH_PEER") == "streaq":
    from streaq import Worker as StreaqWorker

    streaq_worker = StreaqWorker(redis_url=URL, queue_name="bench")

    @streaq_worker.task(silent=True)  # no INFO line per task: the other peers' workers log at warning level
    async def streaq_noop() -> None:
        pass


def reference_worker() -> None:
    """A Sidekiq-style floor: BRPOP one JSON item, do nothing, no record, no lease."""
    import redis

    client = redis.Redis.from_url(URL)
    while True:
        item = client.brpop(["bench:ref"], timeout=1)
        if item is None:
            return


# ---- harness ------------------------------------------------------------------------------


class OwnRedis:
    def __init__(self, workdir: str) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL,
        )
        import redis

        self.client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def cpu_usec(self) -> float:
        """The server's own CPU time (user + system): everything Redis does for a job, its
        networking included.  (``INFO commandstats`` counts a script's inner commands twice,
        once inside the script and once on their own, so it is not summed here.)"""
        info = self.client.info("cpu")
        return (float(info["used_cpu_user"]) + float(info["used_cpu_sys"])) * 1e6

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)


def env_for(peer: str = "") -> dict[str, str]:
    env = {**os.environ, "BENCH_REDIS_URL": URL, "QUANTQ_URL": URL, "BENCH_PEER": peer}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "bench"), str(ROOT), env.get("PYTHONPATH", "")])
    env.pop("QUANTQ_CONFIG", None)
    return env


def rate(n: int, fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return n / (time.perf_counter() - started)


class Drain:
    """A drain's rate and the Redis CPU time it cost per job, for the table."""

    def __init__(self, speed: float, cpu_per_job: float) -> None:
        self.speed, self.cpu_per_job = speed, cpu_per_job

    def __str__(self) -> str:
        return f"drain {self.speed:,.0f}/s ({self.cpu_per_job:.0f} µs Redis CPU/job)"


def drain(server: OwnRedis, remaining: Callable[[], int], cmds: list[tuple[list[str], str]], n: int) -> Drain:
    before = server.cpu_usec()
    speed = _drain(remaining, cmds, n)
    return Drain(speed, (server.cpu_usec() - before) / n)


def _drain(remaining: Callable[[], int], cmds: list[tuple[list[str], str]], n: int, timeout: float = 900) -> float:
    """Start the workers on ``n`` queued jobs; time from the first job taken until the queue is
    empty (start-up excluded for every system alike; at most ``concurrency`` jobs still in flight)."""
    procs = [spawn(cmd, peer) for cmd, peer in cmds]
    try:
        deadline = time.monotonic() + timeout
        while (left := remaining()) >= n:
            if time.monotonic() > deadline or any(p.poll() not in (None, 0) for p in procs):
                raise RuntimeError("the workers never took a job")
            time.sleep(0.001)
        started = time.perf_counter()
        while remaining() > 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"drain stalled with {remaining()} left")
            time.sleep(0.002)
        return left / (time.perf_counter() - started)
    finally:
        stop_all(procs)


def stop_all(procs: list[subprocess.Popen[Any]]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def spawn(cmd: list[str], peer: str = "") -> subprocess.Popen[Any]:
    return subprocess.Popen(cmd, cwd=ROOT, env=env_for(peer), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


# ---- quantq -------------------------------------------------------------------------------


def quantq_rows(server: OwnRedis, n: int, samples: int) -> list[tuple[str, str]]:
    from quantq import envelope
    from quantq.backends.redis import RedisBackend

    def subs(k: int) -> list[Any]:
        return [envelope.parse_submission({"task": "quantq.noop"}) for _ in range(k)]

    rows = []
    backend = RedisBackend(URL)
    one = subs(n)
    rows.append(("enqueue, one per call", f"{rate(n, lambda: [backend.enqueue([j]) for j in one]):,.0f}/s"))
    backend.purge(statuses=list(__import__("quantq").jobs.JobStatus))
    bulk = subs(n)
    rows.append(("enqueue, bulk (1 call)", f"{rate(n, lambda: backend.enqueue(bulk)):,.0f}/s"))
    done_key = backend.keys.status("default", "completed")
    for label, procs, conc, mode in (("1 process, process mode x1", 1, 1, "process"), ("1 process, process mode x2", 1, 2, "process"),
                                     ("1 process, process mode x3", 1, 3, "process"), ("1 process, thread mode x8", 1, 8, "thread"),
                                     ("2 processes, process mode x1", 2, 1, "process"), ("2 processes, process mode x2", 2, 2, "process"),
                                     ("2 processes, thread mode x8", 2, 8, "thread")):
        backend.purge(statuses=list(__import__("quantq").jobs.JobStatus))
        backend.enqueue(subs(n))
        cmd = [sys.executable, "-m", "quantq", "worker", "--concurrency", str(conc), "--mode", mode,
               "--status-interval", "0", "--log-level", "warning"]
        # quantq is timed until every job is recorded completed (stricter than "queue empty")
        result = drain(server, lambda: n - int(server.client.zcard(done_key)), [(cmd, "")] * procs, n)
        rows.append((f"drain: {label}", str(result)))
    backend.purge(statuses=list(__import__("quantq").jobs.JobStatus))
    worker = spawn([sys.executable, "-m", "quantq", "worker", "--concurrency", "1", "--mode", "thread", "--status-interval", "0",
                    "--log-level", "warning"])
    try:
        time.sleep(2.5)
        lat = latency(backend, samples)
        rows.append(("latency p50 / p99 (idle worker, thread mode)", f"{lat[0]:.2f} / {lat[1]:.2f} ms"))
    finally:
        stop_all([worker])
        backend.close()
    return rows


def listing_rows(kept: int) -> list[tuple[str, str]]:
    """Listing and counting with ``kept`` jobs stored (mixed statuses, two tasks, two queues)."""
    from quantq import envelope, jobs
    from quantq.backends.base import JobFilter, Outcome
    from quantq.backends.redis import RedisBackend

    backend = RedisBackend(URL + "?events=off")
    started = time.perf_counter()
    for start in range(0, kept, 10_000):
        batch = [envelope.parse_submission({"task": "t.rare" if i % 1000 == 0 else "t.common", "queue": "qa" if i % 2 else "qb"})
                 for i in range(start, min(kept, start + 10_000))]
        backend.enqueue(batch)
        for queue in ("qa", "qb"):  # finish a tenth of them
            claims = backend.claim([queue], worker_id="w", hostname="h", lease=300, limit=len(batch) // 20)
            backend.report([Outcome(claim=c, result=None) for c in claims])
    load = time.perf_counter() - started
    cursor = backend.list_jobs(JobFilter(limit=100, queue="qa"))[-1].id
    cases = {
        "newest 100, no filter": JobFilter(limit=100),
        "100 completed in qa": JobFilter(limit=100, queue="qa", statuses=(jobs.JobStatus.COMPLETED,)),
        "100 of a rare task (0.1%), queued": JobFilter(limit=100, task="t.rare", statuses=(jobs.JobStatus.QUEUED,)),
        "next page after a cursor": JobFilter(limit=100, queue="qa", before=cursor),
    }
    rows = [(f"listing: {kept:,} jobs stored in", f"{load:.1f} s")]
    for label, flt in cases.items():
        t = time.perf_counter()
        for _ in range(20):
            found = backend.list_jobs(flt)
        rows.append((f"listing: {label}", f"{(time.perf_counter() - t) / 20 * 1000:.1f} ms ({len(found)} rows)"))
    t = time.perf_counter()
    stats = backend.queue_stats()
    rows.append(("listing: counts per queue and status", f"{(time.perf_counter() - t) * 1000:.1f} ms ({sum(sum(s.counts.values()) for s in stats):,} jobs)"))
    backend.close()
    return rows


def latency(backend: Any, samples: int) -> tuple[float, float]:
    from quantq import envelope

    done: dict[str, float] = {}
    arrived = threading.Condition()
    finished = threading.Event()

    def listen() -> None:
        for event in backend.subscribe_events(timeout=5):
            if finished.is_set():
                return
            if event["event"] == "completed":
                with arrived:
                    done[event["id"]] = time.perf_counter()
                    arrived.notify_all()

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    time.sleep(0.3)
    out = []
    for _ in range(samples):
        started = time.perf_counter()  # (making the job is the caller's first step, as in bench_sql.py)
        job = envelope.parse_submission({"task": "quantq.noop"})
        backend.enqueue([job])
        with arrived:
            arrived.wait_for(lambda job_id=job.id: job_id in done, timeout=5)
        out.append((done.get(job.id, started + 5) - started) * 1000)
        time.sleep(0.005)
    finished.set()
    backend.enqueue([envelope.parse_submission({"task": "quantq.noop"})])  # an event that lets the listener see it
    listener.join(6)  # before the caller closes the backend under it
    return median_and_p99(out)


def median_and_p99(samples: list[float]) -> tuple[float, float]:
    out = sorted(samples)
    return statistics.median(out), out[max(0, int(len(out) * 0.99) - 1)]


def percentiles(samples: list[float]) -> str:
    """A peer's latency row, read from its probe's samples (ms) as quantq's are."""
    p50, p99 = median_and_p99(samples)
    return f"{p50:.2f} / {p99:.2f} ms"


# ---- peers --------------------------------------------------------------------------------


def rq_row(server: OwnRedis, n: int, simple: bool) -> tuple[str, str]:
    from redis import Redis
    from rq import Queue

    if not simple:
        n = min(n, 2000)  # a fork per job: ~100/s on 2 cores, so a smaller sample
    q = Queue("bench", connection=Redis.from_url(URL))
    one = rate(n, lambda: [q.enqueue("bench_redis.rq_noop") for _ in range(n)])
    q.empty()
    bulk = rate(n, lambda: q.enqueue_many([Queue.prepare_data("bench_redis.rq_noop") for _ in range(n)]))
    q.empty()
    q.enqueue_many([Queue.prepare_data("bench_redis.rq_noop") for _ in range(n)])
    cmd = [sys.executable, "-m", "rq.cli", "worker", "--url", URL, "-q"]
    if simple:
        cmd += ["--worker-class", "rq.worker.SimpleWorker"]
    speed = drain(server, lambda: int(server.client.llen("rq:queue:bench")), [([*cmd, "bench"], "")], n)
    return (f"RQ {'SimpleWorker' if simple else f'Worker (fork per job, {n:,} jobs)'}",
            f"enqueue {one:,.0f}/s, bulk {bulk:,.0f}/s, {speed}")


def dramatiq_row(server: OwnRedis, n: int) -> tuple[str, str]:
    module = _peer_module("dramatiq")
    one = rate(n, lambda: [module.dramatiq_noop.send() for _ in range(n)])
    cmd = [sys.executable, "-m", "dramatiq", "bench_redis", "--processes", "1", "--threads", "8"]
    speed = drain(server, lambda: int(server.client.llen("dramatiq:bench")), [(cmd, "dramatiq")], n)
    return "Dramatiq (1 process x 8 threads)", f"enqueue {one:,.0f}/s, {speed}"


def celery_row(server: OwnRedis, n: int) -> tuple[str, str]:
    module = _peer_module("celery")
    one = rate(n, lambda: [module.celery_noop.delay() for _ in range(n)])
    cmd = [sys.executable, "-m", "celery", "-A", "bench_redis:celery_app", "worker", "--pool", "solo", "-Q", "celery",
           "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning"]
    speed = drain(server, lambda: int(server.client.llen("celery")), [(cmd, "celery")], n)
    return "Celery (solo pool, 1 process)", f"enqueue {one:,.0f}/s, {speed}"


def arq_row(server: OwnRedis, n: int) -> tuple[str, str]:
    from arq import create_pool
    from arq.connections import RedisSettings

    async def enqueue() -> None:
        pool = await create_pool(RedisSettings.from_dsn(URL))
        for _ in range(n):
            await pool.enqueue_job("arq_noop")
        await pool.aclose()

    one = rate(n, lambda: asyncio.run(enqueue()))
    speed = drain(server, lambda: int(server.client.zcard("arq:queue")), [([sys.executable, "-m", "arq", "bench_redis.ArqSettings"], "arq")], n)
    return "arq (1 process, max_jobs 50)", f"enqueue {one:,.0f}/s, {speed}"


def saq_row(server: OwnRedis, n: int) -> tuple[str, str]:
    from saq import Queue

    async def enqueue() -> None:  # SAQ has no bulk enqueue (Queue.map also waits for the results)
        queue = Queue.from_url(URL, name="bench")
        await queue.connect()
        for _ in range(n):
            await queue.enqueue("saq_noop")
        await queue.disconnect()

    one = rate(n, lambda: asyncio.run(enqueue()))
    cmd = [sys.executable, "-m", "saq", "bench_redis.saq_settings", "--quiet"]
    speed = drain(server, lambda: int(server.client.llen("saq:bench:queued")), [(cmd, "saq")], n)
    return "SAQ (1 process, concurrency 10)", f"enqueue {one:,.0f}/s, {speed}"


def huey_row(server: OwnRedis, n: int) -> tuple[str, str]:
    module = _peer_module("huey")
    one = rate(n, lambda: [module.huey_noop() for _ in range(n)])  # no bulk API (task.map() enqueues one by one)
    cmd = [sys.executable, "-m", "huey.bin.huey_consumer", "bench_redis.huey_app", "--workers", "1", "--worker-type", "thread",
           "--quiet"]
    speed = drain(server, lambda: int(server.client.llen("huey.redis.bench")), [(cmd, "huey")], n)
    return "Huey (RedisHuey, 1 consumer process x 1 thread)", f"enqueue {one:,.0f}/s, {speed}"


def taskiq_row(server: OwnRedis, n: int) -> tuple[str, str]:
    import types

    # taskiq's task decorator sets the plain function on its module, looked up in sys.modules,
    # where _peer_module's copy of this file is not registered: give it a module of that name
    sys.modules.setdefault("bench_redis_taskiq", types.ModuleType("bench_redis_taskiq"))
    module = _peer_module("taskiq")

    async def enqueue() -> None:  # no bulk API: one kiq() per job
        await module.taskiq_broker.startup()  # creates the consumer group the worker reads
        for _ in range(n):
            await module.taskiq_noop.kiq()
        await module.taskiq_broker.shutdown()

    one = rate(n, lambda: asyncio.run(enqueue()))

    def remaining() -> int:  # not yet delivered to the group, plus delivered and not yet acknowledged
        group = next(g for g in server.client.xinfo_groups("bench") if g["name"] in ("taskiq", b"taskiq"))
        return int(group["lag"]) + int(group["pending"])

    cmd = [sys.executable, "-m", "taskiq", "worker", "bench_redis:taskiq_broker", "--workers", "1", "--log-level", "WARNING"]
    speed = drain(server, remaining, [(cmd, "taskiq")], n)
    return "taskiq (RedisStreamBroker, 1 worker process, 100 async tasks)", f"enqueue {one:,.0f}/s, {speed}"


def streaq_row(server: OwnRedis, n: int) -> tuple[str, str]:
    module = _peer_module("streaq")

    async def enqueue_one() -> None:
        async with module.streaq_worker:
            for _ in range(n):
                await module.streaq_noop.enqueue()

    async def enqueue_bulk() -> None:  # Worker.enqueue_many: one pipeline
        async with module.streaq_worker:
            await module.streaq_worker.enqueue_many([module.streaq_noop.enqueue() for _ in range(n)])

    one = rate(n, lambda: asyncio.run(enqueue_one()))
    server.client.flushdb()
    bulk = rate(n, lambda: asyncio.run(enqueue_bulk()))
    cmd = [sys.executable, "-m", "streaq", "run", "bench_redis:streaq_worker"]
    # streaq deletes a finished task from its stream: the length is what is left, in flight included
    speed = drain(server, lambda: int(server.client.xlen("streaq:bench:queues:normal")), [(cmd, "streaq")], n)
    return "streaq (1 process, concurrency 16)", f"enqueue {one:,.0f}/s, bulk {bulk:,.0f}/s, {speed}"


def reference_row(server: OwnRedis, n: int) -> tuple[str, str]:
    import redis

    client = redis.Redis.from_url(URL)
    one = rate(n, lambda: [client.lpush("bench:ref", '{"job":"noop"}') for _ in range(n)])
    cmd = [sys.executable, "-c", "import bench_redis; bench_redis.reference_worker()"]
    speed = drain(server, lambda: int(client.llen("bench:ref")), [(cmd, "")], n)
    return "reference: bare LPUSH/BRPOP in Python (no record, no lease)", f"enqueue {one:,.0f}/s, {speed}"


NODE_DIR = Path(os.environ.get("BENCH_NODE_DIR", Path.home() / ".cache" / "quantq-bench" / "node"))
NODE_PACKAGE = Path(__file__).resolve().parent  # package.json and package-lock.json: BullMQ's pinned version


def install_bullmq() -> None:
    """``npm ci`` the pinned lock file outside the tree, again whenever the lock file changes."""
    lock = (NODE_PACKAGE / "package-lock.json").read_bytes()
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    installed = NODE_DIR / "package-lock.json"
    if (NODE_DIR / "node_modules" / "bullmq").is_dir() and installed.is_file() and installed.read_bytes() == lock:
        return
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(NODE_PACKAGE / name, NODE_DIR / name)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, capture_output=True, timeout=600)


BULLMQ_JS = """
import { Queue, QueueEvents, Worker } from 'bullmq';
const [, , port, n, mode, concurrency] = process.argv;
const connection = { host: '127.0.0.1', port: Number(port) };
const N = Number(n);
const opts = { removeOnComplete: true, removeOnFail: true };
if (mode === 'enqueue') {
  const q = new Queue('bench', { connection });
  let t = performance.now();
  for (let i = 0; i < N; i++) await q.add('noop', {}, opts);
  const single = N / ((performance.now() - t) / 1000);
  await q.obliterate({ force: true });
  const jobs = Array.from({ length: N }, () => ({ name: 'noop', data: {}, opts }));
  t = performance.now();
  for (let i = 0; i < N; i += 1000) await q.addBulk(jobs.slice(i, i + 1000));
  const bulk = N / ((performance.now() - t) / 1000);
  console.log(JSON.stringify({ single, bulk }));
  await q.close();
} else if (mode === 'latency') {
  // N single jobs through an idle worker, each awaited as BullMQ's docs say (waitUntilFinished
  // on QueueEvents), 5 ms apart as in quantq's probe; kept on completion, or the wait could
  // find its job already removed
  const q = new Queue('bench', { connection });
  const events = new QueueEvents('bench', { connection });
  await events.waitUntilReady();
  await new Promise((r) => setTimeout(r, 300));
  const out = [];
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    const job = await q.add('noop', {});
    await job.waitUntilFinished(events, 5000);
    out.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 5));
  }
  console.log(JSON.stringify(out));
  await events.close();
  await q.close();
} else {
  new Worker('bench', async () => {}, { connection, concurrency: Number(concurrency) });
}
"""
SIDEKIQ_RB = """
require 'sidekiq'
require 'sidekiq/api'
require 'json'
require 'timeout'
Sidekiq.configure_server { |c| c.redis = { url: ENV['BENCH_REDIS_URL'] } }
Sidekiq.configure_client { |c| c.redis = { url: ENV['BENCH_REDIS_URL'] } }
class NoopJob
  include Sidekiq::Worker
  sidekiq_options retry: false
  def perform; end
end
if ENV['BENCH_ENQUEUE']
  n = ENV['BENCH_ENQUEUE'].to_i
  t = Time.now
  n.times { NoopJob.perform_async }
  single = n / (Time.now - t)
  Sidekiq::Queue.new.clear
  t = Time.now
  (n / 1000).times { Sidekiq::Client.push_bulk('class' => NoopJob, 'args' => Array.new(1000) { [] }) }
  bulk = n / (Time.now - t)
  puts JSON.generate({ single: single, bulk: bulk })
end
class PingJob # the latency probe's job: it tells the caller it ran, the one way Sidekiq has
  include Sidekiq::Worker
  sidekiq_options retry: false
  def perform(id)
    Sidekiq.redis { |c| c.publish('bench:done', id) }
  end
end
if ENV['BENCH_LATENCY'] # single jobs through an idle worker, 5 ms apart as in quantq's probe
  done = Queue.new
  ready = Queue.new
  Thread.new do # a listener thread stamps each arrival, as quantq's probe does
    Redis.new(url: ENV['BENCH_REDIS_URL']).subscribe('bench:done') do |on|
      on.subscribe { ready << true }
      on.message { |_, id| done << [id, Process.clock_gettime(Process::CLOCK_MONOTONIC)] }
    end
  end
  ready.pop
  sleep 0.3
  out = ENV['BENCH_LATENCY'].to_i.times.map do |i|
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    PingJob.perform_async(i.to_s)
    id, at = Timeout.timeout(5) { done.pop } # (Queue#pop takes no timeout before Ruby 3.2)
    raise "out of order: #{id}" unless id == i.to_s
    sleep 0.005
    (at - started) * 1000
  end
  puts JSON.generate(out)
end
if ENV['BENCH_FILL']
  (ENV['BENCH_FILL'].to_i / 1000).times { Sidekiq::Client.push_bulk('class' => NoopJob, 'args' => Array.new(1000) { [] }) }
end
"""


def bullmq_rows(server: OwnRedis, n: int, samples: int) -> list[tuple[str, str]]:
    """BullMQ at the version pinned by bench/package-lock.json (``npm ci`` into ~/.cache/quantq-bench/node)."""
    import json

    if shutil.which("node") is None or shutil.which("npm") is None:
        raise RuntimeError("node and npm are not installed")
    install_bullmq()
    script = NODE_DIR / "bench_bullmq.mjs"
    script.write_text(BULLMQ_JS)
    port = str(server.port)
    out = subprocess.run(["node", str(script), port, str(n), "enqueue"], capture_output=True, text=True, check=True, timeout=600)
    rates = json.loads(out.stdout.strip().splitlines()[-1])
    rows = []
    for label, procs, conc in (("1 process, concurrency 50", 1, 50), ("2 processes, concurrency 50", 2, 50)):
        server.client.flushdb()
        subprocess.run(["node", str(script), port, str(n), "enqueue"], capture_output=True, text=True, check=True, timeout=600)
        speed = drain(server, lambda: int(server.client.llen("bull:bench:wait")), [(["node", str(script), port, str(n), "work", str(conc)], "")] * procs, n)
        rows.append((f"BullMQ {label}", f"enqueue {rates['single']:,.0f}/s, bulk {rates['bulk']:,.0f}/s, {speed}"))
    server.client.flushdb()
    worker = spawn(["node", str(script), port, "0", "work", "50"])
    try:
        time.sleep(2.5)
        out = subprocess.run(["node", str(script), port, str(samples), "latency"], capture_output=True, text=True, check=True, timeout=600)
    finally:
        stop_all([worker])
    rows.append(("BullMQ latency p50 / p99 (idle worker, 1 process)", percentiles(json.loads(out.stdout.strip().splitlines()[-1]))))
    return rows


def sidekiq_rows(server: OwnRedis, n: int, samples: int) -> list[tuple[str, str]]:
    """Sidekiq from Debian's ruby-sidekiq."""
    import json

    if shutil.which("sidekiq") is None:
        raise RuntimeError("sidekiq is not installed (apt-get install ruby-sidekiq)")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench_sidekiq.rb"
        script.write_text(SIDEKIQ_RB)
        env = {**env_for(), "BENCH_ENQUEUE": str(n)}
        out = subprocess.run(["ruby", str(script)], capture_output=True, text=True, check=True, timeout=600, env=env)
        rates = json.loads(out.stdout.strip().splitlines()[-1])
        rows = []
        for label, procs in (("1 process, concurrency 10", 1), ("2 processes, concurrency 10", 2)):
            server.client.flushdb()
            fill = {**env_for(), "BENCH_FILL": str(n)}
            subprocess.run(["ruby", str(script)], capture_output=True, check=True, timeout=600, env=fill)
            cmd = ["sidekiq", "-r", str(script), "-c", "10", "-q", "default"]
            speed = drain(server, lambda: int(server.client.llen("queue:default")), [(cmd, "")] * procs, n)
            rows.append((f"Sidekiq {label}", f"enqueue {rates['single']:,.0f}/s, bulk {rates['bulk']:,.0f}/s, {speed}"))
        server.client.flushdb()
        worker = spawn(["sidekiq", "-r", str(script), "-c", "10", "-q", "default"])
        try:
            time.sleep(2.5)
            probe = {**env_for(), "BENCH_LATENCY": str(samples)}
            out = subprocess.run(["ruby", str(script)], capture_output=True, text=True, check=True, timeout=600, env=probe)
        finally:
            stop_all([worker])
        rows.append(("Sidekiq latency p50 / p99 (idle worker, 1 process)", percentiles(json.loads(out.stdout.strip().splitlines()[-1]))))
    return rows


def _peer_module(peer: str) -> Any:
    os.environ["BENCH_PEER"] = peer
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_redis_{peer}", __file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def redis_benchmark(server: OwnRedis) -> str:
    if shutil.which("redis-benchmark") is None:
        return "redis-benchmark not installed"
    out = subprocess.run(["redis-benchmark", "-p", str(server.port), "-t", "lpush,rpop", "-n", "200000", "-q"],
                         capture_output=True, text=True, timeout=120).stdout
    return "; ".join(line.split(":")[0].strip() + " " + line.split(":")[1].split("requests")[0].strip() + "/s"
                     for line in out.replace("\r", "\n").splitlines() if "requests per second" in line and ":" in line)


def main() -> None:
    global URL
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--latency-samples", type=int, default=300)
    parser.add_argument("--peers", default="sidekiq,bullmq,rq,rq-simple,dramatiq,celery,arq,saq,huey,taskiq,streaq,reference")
    parser.add_argument("--listing-jobs", type=int, default=0, help="also time listings with this many jobs kept (e.g. 1000000)")
    parser.add_argument("--rounds", type=int, default=1, help="measure every system this many times, side by side (a shared machine is noisy)")
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    with tempfile.TemporaryDirectory() as tmp:
        server = OwnRedis(tmp)
        URL = os.environ["BENCH_REDIS_URL"] = server.url
        try:
            runners: dict[str, Callable[[], list[tuple[str, str]]]] = {
                "rq": lambda: [rq_row(server, args.jobs, simple=False)],
                "rq-simple": lambda: [rq_row(server, args.jobs, simple=True)],
                "dramatiq": lambda: [dramatiq_row(server, args.jobs)],
                "celery": lambda: [celery_row(server, args.jobs)],
                "arq": lambda: [arq_row(server, args.jobs)],
                "saq": lambda: [saq_row(server, args.jobs)],
                "huey": lambda: [huey_row(server, args.jobs)],
                "taskiq": lambda: [taskiq_row(server, args.jobs)],
                "streaq": lambda: [streaq_row(server, args.jobs)],
                "reference": lambda: [reference_row(server, args.jobs)],
                "sidekiq": lambda: sidekiq_rows(server, args.jobs, args.latency_samples),
                "bullmq": lambda: bullmq_rows(server, args.jobs, args.latency_samples),
            }
            systems = ["quantq"] + [p for p in args.peers.split(",") if p]
            results: dict[str, list[str]] = {}  # row label -> its value in each round
            for round_no in range(args.rounds):
                # the machine's load drifts: later rounds take the systems in the reverse order
                for name in systems if round_no % 2 == 0 else systems[::-1]:
                    server.client.flushdb()  # the benchmark's own server: nothing else lives there
                    try:
                        if name == "quantq":
                            rows = [(f"quantq {label}", value) for label, value in quantq_rows(server, args.jobs, args.latency_samples)]
                        else:
                            rows = runners[name]()
                    except Exception as exc:  # noqa: BLE001 - a missing peer must not hide the others
                        rows = [(name, f"not measured: {type(exc).__name__}: {exc}"[:120])]
                    for label, value in rows:
                        results.setdefault(label, [""] * args.rounds)[round_no] = value
            table = Table(title=f"quantq on Redis and its peers: {args.jobs:,} no-op jobs, {os.cpu_count()} cores, one redis-server"
                                + (f", {args.rounds} rounds (later rounds in reverse order)" if args.rounds > 1 else ""))
            table.add_column("system / measure")
            for round_no in range(args.rounds):
                table.add_column("result" if args.rounds == 1 else f"round {round_no + 1}", justify="right")
            for label in results:  # (in the first round's order)
                table.add_row(label, *results[label])
            table.add_row("redis-benchmark ceiling", redis_benchmark(server), *[""] * (args.rounds - 1))
            if args.listing_jobs:
                server.client.flushdb()
                for label, value in listing_rows(args.listing_jobs):
                    table.add_row(f"quantq {label}", value, *[""] * (args.rounds - 1))
            Console().print(table)
        finally:
            server.stop()


if __name__ == "__main__":
    main()

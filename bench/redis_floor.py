"""The floor of a Redis job queue's latency on this machine, beside quantq's, in one run.

    .venv/bin/python bench/redis_floor.py [URL] [--samples 300]

Every row is timed the same way: the client subscribes to a channel, enqueues one job and
waits on its own thread for the message that says the job is done (no listener thread in
between), then sleeps 5 ms, as bench_redis.py's latency probe does, so each job meets an idle
worker on cold CPUs.  The rows:

- plain list: ``LPUSH`` an id; a worker process blocked in ``BLPOP`` ``PUBLISH``es it back.
  No record at all (Sidekiq's shape): the least any Redis queue can do per job.
- a record: the client's script writes a hash and a ready entry and pushes a wake token; the
  worker blocks on the token and claims with a script in the same pipeline (the hash marked
  running, with a lease), then reports with a second script that marks it completed and
  publishes.  The least a queue with records, leases and a claim can do, in one thread.
- the same record, the job handed to a second thread to run, as a worker that keeps claiming
  apart from running does (one hand-off there and one back).
- quantq: ``backend.enqueue`` and an idle ``quantq worker --mode thread --concurrency 1``,
  done when its ``completed`` event arrives.
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

DEFAULT_URL = "redis://127.0.0.1:6379/14"  #: a database of its own: quantq's row purges its jobs there
P = "quantq_bench_floor:"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ENQUEUE = """
redis.call('HSET', KEYS[1] .. 'job:' .. ARGV[1], 'id', ARGV[1], 'task', 'noop', 'status', 'queued', 'created_at', ARGV[2])
redis.call('ZADD', KEYS[1] .. 'ready', ARGV[2], ARGV[1])
if redis.call('LLEN', KEYS[1] .. 'inbox') < 64 then redis.call('LPUSH', KEYS[1] .. 'inbox', '~') end
"""
CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local got = redis.call('ZPOPMIN', KEYS[1] .. 'ready', 1)
if #got == 0 then redis.call('DEL', KEYS[1] .. 'inbox') return {} end
redis.call('HSET', KEYS[1] .. 'job:' .. got[1], 'status', 'running', 'token', ARGV[1], 'lease', now + 30)
return redis.call('HMGET', KEYS[1] .. 'job:' .. got[1], 'id', 'task')
"""
REPORT = """
local key = KEYS[1] .. 'job:' .. ARGV[1]
if redis.call('HGET', key, 'token') ~= ARGV[2] then return 0 end
redis.call('HSET', key, 'status', 'completed', 'result', 'null')
redis.call('PUBLISH', KEYS[1] .. 'done', ARGV[1])
return 1
"""


def plain_worker(url: str) -> None:
    import redis

    r = redis.Redis.from_url(url)
    print("ready", flush=True)
    while True:
        _, job_id = r.blpop([P + "list"])
        if job_id == b"stop":
            return
        r.publish(P + "done", job_id)


def record_worker(url: str, threaded: bool) -> None:
    import redis

    r = redis.Redis.from_url(url)
    claim, report = r.register_script(CLAIM), r.register_script(REPORT)
    runs: queue.SimpleQueue[Any] = queue.SimpleQueue()
    outcomes: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def run_jobs() -> None:  # the job runs on another thread: one hand-off there, one back
        while True:
            job = runs.get()
            outcomes.put((job, None))

    if threaded:
        threading.Thread(target=run_jobs, daemon=True).start()
    print("ready", flush=True)
    while True:
        token = uuid.uuid4().hex
        pipe = r.pipeline(transaction=False)
        pipe.blmove(P + "inbox", P + "inbox", 5, "RIGHT", "RIGHT")
        claim(keys=[P], args=[token], client=pipe)
        woke, got = pipe.execute()
        if woke == b"stop":
            return
        if not got:
            continue
        job_id = got[0]
        if threaded:
            runs.put(job_id)
            job_id, _ = outcomes.get()
        report(keys=[P], args=[job_id, token])


def floor_done(data: bytes, job_id: str) -> bool:
    """The floor rows' done message: the job's id on their own channel."""
    return data.decode() == job_id


def measure(url: str, samples: int, submit: Any, channel: str = P + "done", done: Any = floor_done) -> tuple[float, float]:
    """Every row's timing: ``submit(client, job_id)`` enqueues a job, and the job is done when
    ``done(data, job_id)`` holds for a message on ``channel``, read on this thread."""
    import redis

    r = redis.Redis.from_url(url)
    listen = r.pubsub(ignore_subscribe_messages=True)
    listen.subscribe(channel)
    while listen.get_message(timeout=0.1) is not None:
        pass
    took = []
    for _ in range(samples):
        job_id = uuid.uuid4().hex
        began = time.perf_counter()
        submit(r, job_id)
        while True:
            message = listen.get_message(timeout=5)
            if message is not None and done(message["data"], job_id):
                break
        took.append((time.perf_counter() - began) * 1000)
        time.sleep(0.005)
    listen.close()
    r.close()
    took.sort()
    return statistics.median(took), took[max(0, int(len(took) * 0.99) - 1)]


def quantq_latency(url: str, samples: int) -> tuple[float, float]:
    """quantq's own enqueue and an idle thread-mode worker; done at the ``completed`` event."""
    import json

    from quantq import envelope, jobs
    from quantq.backends.redis import RedisBackend

    def completed(data: bytes, job_id: str) -> bool:
        return any(e.get("event") == "completed" and job_id in e.get("ids", (e.get("id"),)) for e in json.loads(data))

    backend = RedisBackend(url)
    backend.purge(statuses=list(jobs.JobStatus))
    env = {**os.environ, "QUANTQ_URL": url, "PYTHONPATH": ROOT}
    worker = subprocess.Popen([sys.executable, "-m", "quantq", "worker", "--concurrency", "1", "--mode", "thread",
                               "--status-interval", "0", "--log-level", "warning"], cwd=ROOT, env=env)
    try:
        time.sleep(3.0)
        return measure(url, samples, lambda _, job_id: backend.enqueue(
            [envelope.parse_submission({"task": "quantq.noop", "id": job_id})]), backend.keys.events, completed)
    finally:
        worker.terminate()
        worker.wait(15)
        backend.close()


def start(url: str, kind: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, url], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", nargs="?", default=DEFAULT_URL)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        if args.serve == "plain":
            plain_worker(args.url)
        else:
            record_worker(args.url, threaded=args.serve == "threaded")
        return
    import redis

    r = redis.Redis.from_url(args.url)
    for key in r.scan_iter(P + "*"):
        r.delete(key)
    enqueue = r.register_script(ENQUEUE)
    rows = []
    worker = start(args.url, "plain")
    rows.append(("plain list: LPUSH, BLPOP, PUBLISH", measure(args.url, args.samples, lambda c, i: c.lpush(P + "list", i))))
    r.lpush(P + "list", "stop")
    worker.wait(10)
    for kind, label in (("record", "a record: enqueue, claim, report scripts"),
                        ("threaded", "the same, the job run on a second thread")):
        worker = start(args.url, kind)
        rows.append((label, measure(args.url, args.samples,
                                    lambda c, i: enqueue(keys=[P], args=[i, f"{time.time():.6f}"], client=c))))
        r.rpush(P + "inbox", "stop")  # (the end a blocked BLMOVE takes first)
        worker.wait(10)
    rows.append(("quantq: enqueue, idle worker (thread mode), completed event", quantq_latency(args.url, args.samples)))
    for key in r.scan_iter(P + "*"):
        r.delete(key)
    width = max(len(label) for label, _ in rows)
    print(f"{'Redis latency, one job at a time through an idle worker':{width}}  p50 ms  p99 ms")
    for label, (p50, p99) in rows:
        print(f"{label:{width}}  {p50:6.2f}  {p99:6.2f}")


if __name__ == "__main__":
    main()

"""Job listing for the Redis backend: index scans merged newest first.

Each queue keeps one sorted set per status and one per task, scored by creation time.
A listing reads the narrowest of them page by page (``ZRANGE ... BYSCORE REV LIMIT``),
merges the queues, and checks the remaining filters on the job hashes it fetches, so
its cost follows the page size, not the number of jobs kept.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from quantq import jobs
from quantq.backends import base
from quantq.backends.redis_keys import job_from_hash

if TYPE_CHECKING:
    from quantq.backends.redis import RedisBackend

ALL_STATUSES = tuple(s.value for s in jobs.JobStatus)


def _scan(backend: RedisBackend, key: str, hi: str, lo: str, page: int) -> Iterator[tuple[float, str]]:
    offset = 0
    while True:
        with backend._errors():
            rows: list[Any] = backend.client.zrange(key, hi, lo, desc=True, byscore=True, offset=offset, num=page, withscores=True)
        for member, score in rows:
            yield float(score), str(member)
        if len(rows) < page:
            return
        offset += page


def _sources(backend: RedisBackend, flt: base.JobFilter, queue: str, hi: str, lo: str, page: int) -> list[Iterator[tuple[float, str, str]]]:
    if flt.task is not None:
        keys = [backend.keys.task(queue, flt.task)]
    else:
        keys = [backend.keys.status(queue, s) for s in ([s.value for s in flt.statuses] or ALL_STATUSES)]
    return [((score, member, queue) for score, member in _scan(backend, key, hi, lo, page)) for key in keys]


def list_jobs(backend: RedisBackend, flt: base.JobFilter) -> list[jobs.Job]:
    if flt.limit <= 0:
        return []
    cursor: tuple[float, str] | None = None
    if flt.before is not None:
        anchor = backend.get(flt.before)
        if anchor is None or anchor.created_at is None:
            return []
        cursor = (float(f"{anchor.created_at.timestamp():.6f}"), anchor.id)
    hi = "+inf" if flt.created_before is None else f"({flt.created_before.timestamp():.6f}"
    if cursor is not None:
        hi = repr(cursor[0]) if flt.created_before is None or cursor[0] < flt.created_before.timestamp() else hi
    lo = "-inf" if flt.created_after is None else f"{flt.created_after.timestamp():.6f}"
    queues = [flt.queue] if flt.queue is not None else backend.known_queues()
    page = min(max(flt.limit * 2, 50), 1000)
    sources = [src for q in queues for src in _sources(backend, flt, q, hi, lo, page)]
    merged = heapq.merge(*sources, key=lambda t: (t[0], t[1]), reverse=True)
    wanted = {s.value for s in flt.statuses}
    out: list[jobs.Job] = []
    seen: set[tuple[str, str]] = set()
    batch: list[tuple[str, str]] = []

    def hydrate() -> None:
        with backend._errors():
            pipe = backend._pipe()
            for queue, job_id in batch:
                pipe.run("hgetall", backend.keys.job(queue, job_id))
            hashes = pipe.execute()
        for h in hashes:
            if h and (not wanted or h.get("status") in wanted) and len(out) < flt.limit:
                out.append(job_from_hash(h))
        batch.clear()

    for score, job_id, queue in merged:
        if cursor is not None and (score, job_id) >= cursor:
            continue
        if (queue, job_id) in seen:
            continue
        seen.add((queue, job_id))
        batch.append((queue, job_id))
        if len(batch) >= flt.limit - len(out):
            hydrate()
            if len(out) >= flt.limit:
                break
    if batch and len(out) < flt.limit:
        hydrate()
    return out

"""Prometheus metrics computed from the backend at scrape time, so they are true whichever
process enqueued or ran the jobs.

Gauges (queue depth per status, oldest waiting age, paused, workers alive) are read afresh on
every scrape.  The job counters (enqueued, completed, failed, cancelled, retried by task and
queue) and the run-time histograms come from a scan of the job records created within
``lookback``: a job is counted once, the first time a scrape sees it in that state, so the
counters only go up while this process lives (Prometheus treats a restart as a counter reset).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from quantq import jobs
from quantq.backends.base import Backend, JobFilter

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RUNTIME_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, float("inf"))


class BackendCollector(Collector):
    def __init__(self, backend: Backend, *, alive_after: float = 60.0, lookback: float = 86400.0,
                 scan_limit: int = 20000, min_interval: float = 1.0) -> None:
        self.backend = backend
        self.alive_after = alive_after
        self.lookback = lookback
        self.scan_limit = scan_limit
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[jobs.JobStatus, int]] = {}
        self._last_scan = 0.0
        labels = ["task", "queue"]
        self.enqueued = Counter("quantq_jobs_enqueued", "Jobs enqueued", labels, registry=None)
        self.completed = Counter("quantq_jobs_completed", "Jobs completed", labels, registry=None)
        self.failed = Counter("quantq_jobs_failed", "Jobs failed for good", labels, registry=None)
        self.cancelled = Counter("quantq_jobs_cancelled", "Jobs cancelled", labels, registry=None)
        self.retried = Counter("quantq_jobs_retried", "Extra attempts and explicit retries", labels, registry=None)
        self.runtime = Histogram("quantq_job_runtime_seconds", "Run time of finished jobs (last attempt)", ["task"],
                                 buckets=RUNTIME_BUCKETS, registry=None)

    # ---- the job scan ------------------------------------------------------------------------

    def _scan(self) -> None:
        since = self.backend.now() - timedelta(seconds=self.lookback)
        cursor = None
        scanned: set[str] = set()
        while len(scanned) < self.scan_limit:
            page = self.backend.list_jobs(JobFilter(created_after=since, before=cursor,
                                                    limit=min(1000, self.scan_limit - len(scanned))))
            for job in page:
                scanned.add(job.id)
                self._observe(job)
            if len(page) < 1000:
                break
            cursor = page[-1].id
        for job_id in [i for i in self._seen if i not in scanned]:  # pruned or out of the window
            del self._seen[job_id]

    def _observe(self, job: jobs.Job) -> None:
        labels = (job.task, job.queue)
        before = self._seen.get(job.id)
        if before is None:
            self.enqueued.labels(*labels).inc()
        prev_status, prev_attempts = before or (None, 0)
        if prev_status is not None and prev_status.finished and not job.finished:
            self.retried.labels(*labels).inc()  # failed/cancelled -> queued again
            prev_attempts = 0
        extra = max(0, job.attempts - 1) - max(0, prev_attempts - 1)
        if extra > 0:
            self.retried.labels(*labels).inc(extra)
        if job.finished and prev_status is not job.status:
            {jobs.JobStatus.COMPLETED: self.completed, jobs.JobStatus.FAILED: self.failed,
             jobs.JobStatus.CANCELLED: self.cancelled}[job.status].labels(*labels).inc()
            if job.status is not jobs.JobStatus.CANCELLED and job.started_at and job.finished_at:
                self.runtime.labels(job.task).observe(max(0.0, (job.finished_at - job.started_at).total_seconds()))
        self._seen[job.id] = (job.status, job.attempts)

    # ---- Collector -----------------------------------------------------------------------------

    def describe(self) -> list[Metric]:
        return []  # collected lazily: describing must not touch the backend

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("quantq_backend_up", "1 when the backend answered this scrape")
        try:
            gauges = self._gauges()
            with self._lock:
                if time.monotonic() - self._last_scan >= self.min_interval:
                    self._scan()
                    self._last_scan = time.monotonic()
        except Exception:  # a scrape must answer even when the backend does not
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from gauges
        for metric in (self.enqueued, self.completed, self.failed, self.cancelled, self.retried, self.runtime):
            yield from metric.collect()

    def _gauges(self) -> list[Metric]:
        now = self.backend.now()
        jobs_g = GaugeMetricFamily("quantq_queue_jobs", "Jobs per queue and status", labels=["queue", "status"])
        depth = GaugeMetricFamily("quantq_queue_depth", "Jobs waiting to run (queued)", labels=["queue"])
        oldest = GaugeMetricFamily("quantq_queue_oldest_job_age_seconds", "How long the oldest queued job has waited",
                                   labels=["queue"])
        paused = GaugeMetricFamily("quantq_queue_paused", "1 when the queue is paused", labels=["queue"])
        for q in self.backend.queue_stats():
            for status, n in q.counts.items():
                jobs_g.add_metric([q.name, status], n)
            depth.add_metric([q.name], q.counts.get("queued", 0))
            age = (now - q.oldest_queued_at).total_seconds() if q.oldest_queued_at else 0.0
            oldest.add_metric([q.name], max(0.0, age))
            paused.add_metric([q.name], 1 if q.paused else 0)
        workers = self.backend.list_workers()
        alive_n = sum(1 for w in workers if w.heartbeat_at and (now - w.heartbeat_at).total_seconds() <= self.alive_after)
        alive = GaugeMetricFamily("quantq_workers_alive", "Workers whose heartbeat is recent")
        alive.add_metric([], alive_n)
        registered = GaugeMetricFamily("quantq_workers_registered", "Workers in the registry, alive or not")
        registered.add_metric([], len(workers))
        busy = GaugeMetricFamily("quantq_worker_running_jobs", "Jobs each worker is running", labels=["worker"])
        for w in workers:
            busy.add_metric([w.id], len(w.current_jobs))
        return [jobs_g, depth, oldest, paused, alive, registered, busy]


def make_registry(backend: Backend, **options: Any) -> CollectorRegistry:
    """A registry of its own (never the process-global one) holding a :class:`BackendCollector`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BackendCollector(backend, **options))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)

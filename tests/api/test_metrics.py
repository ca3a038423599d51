"""/metrics is computed from the backend, so it counts work other processes did."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

import quantq
from quantq import backends
from quantq.api import ApiConfig
from quantq.backends.base import WorkerInfo
from tests.api.conftest import Running, WorkerThread


def scrape(api: Running) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = api.client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_count_work_done_elsewhere(tmp_path: Path, serve: Callable[..., Running],
                                           worker: Callable[..., WorkerThread]) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    api_backend = backends.from_url(url)
    producer = quantq.App(url)  # a producer and a worker that never talk to the API
    try:
        api = serve(api_backend, config=ApiConfig(metrics_min_interval=0))
        before = scrape(api)
        assert before[("quantq_backend_up", ())] == 1 and before[("quantq_workers_alive", ())] == 0
        for i in range(3):
            producer.enqueue("quantq.echo", i=i)
        producer.enqueue("quantq.fail", message="x")
        producer.submit("quantq.noop", queue="idle")
        worker_backend = backends.from_url(url)
        w = worker(worker_backend, name="metrics-w")
        deadline = time.monotonic() + 15
        while True:
            m = scrape(api)
            done = m.get(("quantq_jobs_completed_total", (("queue", "default"), ("task", "quantq.echo"))), 0)
            failed = m.get(("quantq_jobs_failed_total", (("queue", "default"), ("task", "quantq.fail"))), 0)
            if done == 3 and failed == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert done == 3 and failed == 1, m
        m = scrape(api)  # a scrape reads gauges before counters: take the gauges once all is done
        assert m[("quantq_jobs_enqueued_total", (("queue", "default"), ("task", "quantq.echo")))] == 3
        assert m[("quantq_job_runtime_seconds_count", (("task", "quantq.echo"),))] == 3
        assert m[("quantq_job_runtime_seconds_bucket", (("le", "+Inf"), ("task", "quantq.echo")))] == 3
        assert m[("quantq_queue_depth", (("queue", "idle"),))] == 1
        assert m[("quantq_queue_oldest_job_age_seconds", (("queue", "idle"),))] > 0
        assert m[("quantq_queue_jobs", (("queue", "default"), ("status", "completed")))] == 3
        assert m[("quantq_workers_alive", ())] == 1 and m[("quantq_workers_registered", ())] == 1
        # counters never count a job twice across scrapes
        again = scrape(api)
        assert again[("quantq_jobs_completed_total", (("queue", "default"), ("task", "quantq.echo")))] == 3
        w.stop()
        worker_backend.close()
    finally:
        producer.close()


def test_dead_worker_and_retries_show(tmp_path: Path, serve: Callable[..., Running]) -> None:
    url = f"sqlite:///{tmp_path}/d.db"
    backend = backends.from_url(url)
    api = serve(backend, config=ApiConfig(metrics_min_interval=0))
    backend.register_worker(WorkerInfo(id="ghost", hostname="h", pid=1, queues=("default",), concurrency=1))
    assert scrape(api)[("quantq_workers_alive", ())] == 1
    strict = serve(backend, config=ApiConfig(worker_alive_after=0.0))  # any silence counts as down
    time.sleep(0.05)
    m = scrape(strict)
    assert m[("quantq_workers_alive", ())] == 0 and m[("quantq_workers_registered", ())] == 1
    job = api.client.post("/api/jobs", json={"task": "quantq.noop", "max_attempts": 3}).json()
    [claim] = backend.claim(["default"], worker_id="ghost", hostname="h", lease=30)
    from quantq import jobs

    labels = (("queue", "default"), ("task", "quantq.noop"))
    backend.fail(claim, jobs.JobError(type="X", message="y"), retry_in=0.0)  # a second attempt is due
    backend.promote_due()  # scheduled -> queued, as the scheduler does
    [claim] = backend.claim(["default"], worker_id="ghost", hostname="h", lease=30)
    backend.fail(claim, jobs.JobError(type="X", message="y"), retry_in=None)  # failed for good
    m = scrape(api)
    assert m[("quantq_jobs_failed_total", labels)] == 1 and m[("quantq_jobs_retried_total", labels)] == 1
    api.client.post(f"/api/jobs/{job['id']}/retry")  # an explicit retry is seen as failed -> queued
    assert scrape(api)[("quantq_jobs_retried_total", labels)] == 2


def test_alert_rules_use_only_exposed_metrics(tmp_path: Path, serve: Callable[..., Running]) -> None:
    import re

    import yaml

    rules = yaml.safe_load((Path(__file__).resolve().parents[2] / "deploy/prometheus/alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert len(exprs) >= 3 and all(rule.get("alert") for group in rules["groups"] for rule in group["rules"])
    backend = backends.from_url(f"sqlite:///{tmp_path}/a.db")
    api = serve(backend)
    api.client.post("/api/jobs", json={"task": "quantq.noop"})
    backend.register_worker(WorkerInfo(id="w", hostname="h", pid=1, queues=("default",), concurrency=1))
    [claim] = backend.claim(["default"], worker_id="w", hostname="h", lease=30)
    backend.complete(claim, None)
    api.client.post("/api/jobs", json={"task": "quantq.fail"})
    [claim] = backend.claim(["default"], worker_id="w", hostname="h", lease=30)
    from quantq import jobs

    backend.fail(claim, jobs.JobError(type="X", message="y"))
    exposed = {name for name, _ in scrape(api)}
    used = {m for expr in exprs for m in re.findall(r"\bquantq_[a-z_]+", expr)}
    assert used and used <= exposed, used - exposed
    backend.close()

"""Process-level guarantees, driven through the real CLI: workers are subprocesses,
killed and signalled as an operator (or the kernel) would."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import psutil
import pytest

from quantq import envelope, jobs
from tests.acceptance import helpers as h
from tests.fixtures.tasks import executions

pytestmark = pytest.mark.acceptance
S = jobs.JobStatus


def submit(url: str, *submissions: dict) -> list[str]:
    backend = h.open_backend(url)
    try:
        return [j.id for j in backend.enqueue([envelope.parse_submission(s) for s in submissions])]
    finally:
        backend.close()


def test_sigkill_worker_and_children_loses_no_job(shared_url: str, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    ids = submit(shared_url, *({"task": "fixtures.record", "args": {"log": str(log), "seconds": 0.2}, "max_attempts": 5}
                               for _ in range(40)))
    first = h.start_worker(shared_url, "--concurrency", "2")
    h.wait_for(lambda: len(executions(log)) >= 6, what="the first worker to get going")
    h.kill_tree(first)  # the worker and its pool children die mid-job
    first.wait(10)
    second = h.start_worker(shared_url, "--concurrency", "2")
    backend = h.open_backend(shared_url)
    try:
        h.wait_for(lambda: h.status_counts(backend).get("completed") == 40, timeout=90, what="all 40 jobs to complete")
        done = h.all_jobs(backend)
        assert sorted(j.id for j in done) == sorted(ids)
        assert {j.status for j in done} == {S.COMPLETED}
        assert all(j.result == j.id for j in done)  # each completion recorded once, by its own run
        runs = executions(log)
        assert set(runs) == set(ids)  # at least once
        rerun = [i for i, n in runs.items() if n > 1]
        assert rerun, "the jobs cut off by the kill should have run again"
        assert all(backend.get(i).attempts >= 2 for i in rerun)
    finally:
        h.stop(second)
        backend.close()


def test_four_workers_complete_2000_jobs_exactly_once(shared_url: str, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    # All four are ready before the jobs come: a worker claims only once a child is ready, and one
    # that started late could find 2,000 no-ops already done.  Each proves it with a job of its own.
    workers = [h.start_worker(shared_url, "--concurrency", "2", "--name", f"w{i}", "--queues", f"default,probe{i}")
               for i in range(4)]
    backend = h.open_backend(shared_url)
    try:
        probes = [j.id for j in backend.enqueue([envelope.parse_submission({"task": "quantq.noop", "queue": f"probe{i}"})
                                                 for i in range(4)])]
        h.wait_for(lambda: all(backend.get(p).status is S.COMPLETED for p in probes), timeout=120, what="each worker's probe")
        ids = submit(shared_url, *({"task": "fixtures.record", "args": {"log": str(log)}} for _ in range(2000)))
        h.wait_for(lambda: h.status_counts(backend).get("completed") == 2004, timeout=180, what="2,000 completions")
        for w in workers:
            assert h.stop(w) == 0
        done = [j for j in h.all_jobs(backend) if j.queue == "default"]
        assert len(done) == 2000 and {j.status for j in done} == {S.COMPLETED}
        assert {j.attempts for j in done} == {1}
        runs = executions(log)
        assert set(runs) == set(ids) and set(runs.values()) == {1}
        assert len({j.worker_id for j in done}) >= 2  # the work really was shared
    finally:
        for w in workers:
            h.stop(w)
        backend.close()


def test_timeout_kills_the_job_and_the_worker_goes_on(shared_url: str, tmp_path: Path) -> None:
    [slow] = submit(shared_url, {"task": "fixtures.stubborn", "args": {"seconds": 60}, "timeout": 1, "max_attempts": 1})
    worker = h.start_worker(shared_url, "--concurrency", "1")
    backend = h.open_backend(shared_url)
    try:
        h.wait_for(lambda: backend.get(slow).status is S.FAILED, timeout=20, what="the timeout")
        job = backend.get(slow)
        assert job.error.type == "JobTimeout" and "timeout of 1s" in job.error.message
        [after] = submit(shared_url, {"task": "quantq.echo", "args": {"still": "alive"}})
        h.wait_for(lambda: backend.get(after).status is S.COMPLETED, timeout=20, what="the next job")
        assert backend.get(after).result == {"still": "alive"}
    finally:
        h.stop(worker)
        backend.close()


def test_cancel_a_running_job_stops_it_within_two_seconds(shared_url: str, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"  # fixtures.record logs, then sleeps without ever checking for cancellation
    [job_id] = submit(shared_url, {"task": "fixtures.record", "args": {"log": str(log), "seconds": 60}})
    worker = h.start_worker(shared_url, "--concurrency", "1")
    backend = h.open_backend(shared_url)
    try:
        h.wait_for(lambda: executions(log), what="the job to start")
        children = psutil.Process(worker.pid).children()
        assert len(children) == 1
        started = time.monotonic()
        assert backend.cancel(job_id).status is S.CANCELLED  # (the CLI's cancel is tested in tests/unit)
        h.wait_for(lambda: not children[0].is_running() or children[0].status() == psutil.STATUS_ZOMBIE,
                   timeout=5, what="the job's process to be killed")
        assert time.monotonic() - started < 2.5
        assert backend.get(job_id).status is S.CANCELLED
        [after] = submit(shared_url, {"task": "quantq.noop"})
        h.wait_for(lambda: backend.get(after).status is S.COMPLETED, timeout=20, what="the next job")
    finally:
        h.stop(worker)
        backend.close()


def test_cooperative_cancel_keeps_the_child_process(shared_url: str) -> None:
    [job_id] = submit(shared_url, {"task": "quantq.sleep", "args": {"seconds": 30}})
    worker = h.start_worker(shared_url, "--concurrency", "1")
    backend = h.open_backend(shared_url)
    try:
        h.wait_for(lambda: backend.get(job_id).progress > 0, what="progress")
        [child] = psutil.Process(worker.pid).children()
        backend.cancel(job_id)
        [after] = submit(shared_url, {"task": "quantq.noop"})
        h.wait_for(lambda: backend.get(after).status is S.COMPLETED, timeout=10, what="the next job")
        assert psutil.Process(worker.pid).children() == [child]  # quantq.sleep stopped by itself
    finally:
        h.stop(worker)
        backend.close()


def test_retries_with_backoff_then_fails_with_traceback(shared_url: str) -> None:
    [flaky] = submit(shared_url, {"task": "fixtures.flaky", "args": {"fail_times": 2}, "max_attempts": 3})
    [doomed] = submit(shared_url, {"task": "fixtures.flaky", "args": {"fail_times": 5}, "max_attempts": 3})
    worker = h.start_worker(shared_url, "--concurrency", "2")
    backend = h.open_backend(shared_url)
    try:
        h.wait_for(lambda: backend.get(doomed).status is S.FAILED and backend.get(flaky).finished, timeout=30,
                   what="both jobs to finish")
        ok = backend.get(flaky)
        assert ok.status is S.COMPLETED and ok.result == "succeeded on attempt 3" and ok.attempts == 3
        failed = backend.get(doomed)
        assert failed.attempts == 3 and failed.error.type == "RuntimeError"
        assert failed.error.message == "flaky failure on attempt 3"
        assert "Traceback" in failed.error.traceback and "tests/fixtures/tasks.py" in failed.error.traceback
        shown = h.cli(shared_url, "result", doomed, check=False)
        assert shown.returncode == 1 and "RuntimeError" in shown.stderr
    finally:
        h.stop(worker)
        backend.close()


def test_sigterm_drains_running_jobs_and_hands_back_the_rest(shared_url: str, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    short = submit(shared_url, {"task": "fixtures.record", "args": {"log": str(log), "seconds": 1.0}, "priority": 9})
    long = submit(shared_url, {"task": "fixtures.record", "args": {"log": str(log), "seconds": 60}, "priority": 8})
    waiting = submit(shared_url, *({"task": "quantq.noop"} for _ in range(3)))
    worker = h.start_worker(shared_url, "--concurrency", "2", "--grace", "3")
    backend = h.open_backend(shared_url)
    try:
        h.wait_for(lambda: len(executions(log)) == 2, what="both jobs to run")
        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(15) == 0
        elapsed = time.monotonic() - started
        assert 2.5 <= elapsed < 8, elapsed  # waited out the 3 s grace for the stubborn job, no longer
        assert backend.get(short[0]).status is S.COMPLETED  # finished during the grace period
        handed_back = backend.get(long[0])
        assert handed_back.status is S.QUEUED and handed_back.attempts == 0  # given back unspent
        assert {backend.get(i).status for i in waiting} == {S.QUEUED}  # no new claims while draining
        assert backend.list_workers() == []
    finally:
        h.stop(worker)
        backend.close()


def test_second_sigint_stops_at_once(shared_url: str) -> None:
    [long] = submit(shared_url, {"task": "fixtures.stubborn", "args": {"seconds": 60}})
    worker = h.start_worker(shared_url, "--concurrency", "1", "--grace", "60")
    backend = h.open_backend(shared_url)
    try:
        h.wait_for(lambda: backend.get(long).status is S.RUNNING, what="the job to run")
        worker.send_signal(signal.SIGINT)
        time.sleep(0.3)
        assert worker.poll() is None  # draining, within its 60 s grace
        started = time.monotonic()
        worker.send_signal(signal.SIGINT)
        assert worker.wait(10) == 0
        assert time.monotonic() - started < 5
        assert backend.get(long).status is S.QUEUED
    finally:
        h.stop(worker)
        backend.close()


def test_priority_order_through_one_slot(shared_url: str, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    made = {}
    for name, priority in (("low", "low"), ("normal", "normal"), ("high", "high"), ("p9", 9), ("p0", 0)):
        [made[name]] = submit(shared_url, {"task": "fixtures.record", "args": {"log": str(log)}, "priority": priority})
    worker = h.start_worker(shared_url, "--concurrency", "1", "--burst")
    assert worker.wait(60) == 0
    order = [line.split()[0] for line in log.read_text().splitlines()]
    by_id = {v: k for k, v in made.items()}
    assert [by_id[i] for i in order] == ["p9", "high", "normal", "low", "p0"]


def test_delayed_jobs_wait_for_their_time(shared_url: str) -> None:
    backend = h.open_backend(shared_url)
    worker = h.start_worker(shared_url, "--concurrency", "1")
    try:
        [warm] = submit(shared_url, {"task": "quantq.echo", "args": {"when": "now"}})
        h.wait_for(lambda: backend.get(warm).status is S.COMPLETED, what="an idle, warmed-up worker")
        submitted = time.monotonic()
        [delayed] = submit(shared_url, {"task": "quantq.echo", "args": {"when": "later"}, "delay": 2})
        time.sleep(1.0)
        if time.monotonic() - submitted < 1.8:  # (a loaded machine may have slept through the window)
            assert backend.get(delayed).status is S.SCHEDULED  # the idle worker leaves it alone
        h.wait_for(lambda: backend.get(delayed).status is S.COMPLETED, timeout=20, what="the delayed job")
        job = backend.get(delayed)
        assert (job.run_at - job.created_at).total_seconds() == pytest.approx(2, abs=0.05)
        assert job.started_at >= job.run_at  # not a moment early
        assert (job.started_at - job.run_at).total_seconds() < 3  # and promptly once due (promotion runs every 0.5 s)
    finally:
        h.stop(worker)
        backend.close()


def test_bad_jobs_end_alone_and_the_worker_survives(shared_url: str) -> None:
    unknown, invalid, crash = submit(
        shared_url,
        {"task": "no.such.task"},
        {"task": "quantq.sleep", "args": {"seconds": "soon"}},
        {"task": "fixtures.crash", "max_attempts": 1},
    )
    [good] = submit(shared_url, {"task": "quantq.echo", "args": {"ok": True}})
    worker = h.start_worker(shared_url, "--concurrency", "1")
    backend = h.open_backend(shared_url)
    try:
        h.wait_for(lambda: all(backend.get(i).finished for i in (unknown, invalid, crash, good)), timeout=30,
                   what="all four jobs to end")
        assert backend.get(good).result == {"ok": True}
        u, v, c = backend.get(unknown), backend.get(invalid), backend.get(crash)
        assert (u.status, u.error.type, u.attempts) == (S.FAILED, "UnknownTask", 1)  # not retried
        assert "no.such.task" in u.error.message and "quantq.echo" in u.error.message
        assert (v.status, v.error.type, v.attempts) == (S.FAILED, "InvalidArguments", 1)
        assert "seconds" in v.error.message
        assert (c.status, c.error.type) == (S.FAILED, "ChildDied") and "exit code 13" in c.error.message
        assert worker.poll() is None
        if shared_url.startswith("sqlite"):  # a foreign producer's malformed row, written past quantq
            import sqlite3

            conn = sqlite3.connect(backend.path, isolation_level=None)  # type: ignore[attr-defined]
            conn.execute("INSERT INTO quantq_jobs (id, task, queue, args, priority, status, max_attempts, created_at,"
                         " updated_at) VALUES ('raw-bad', 'quantq.echo', 'default', '{not json', 9, 'queued', 3, 0, 0)")
            conn.close()
            [after] = submit(shared_url, {"task": "quantq.echo", "args": {"after": 1}})
            h.wait_for(lambda: backend.get(after).status is S.COMPLETED, timeout=20, what="the job after the bad row")
            bad = backend.get("raw-bad")
            assert (bad.status, bad.error.type) == (S.FAILED, "EnvelopeError") and "'args'" in bad.error.message
            assert worker.poll() is None
    finally:
        h.stop(worker)
        backend.close()


def test_wait_shows_progress_and_prints_the_result(shared_url: str) -> None:
    worker = h.start_worker(shared_url, "--concurrency", "1")
    try:
        out = h.cli(shared_url, "enqueue", "quantq.sleep", "--args", '{"seconds": 1}', "--wait", "--id", "sleepy")
        assert '"slept": 1' in out.stdout
        assert "completed" in out.stderr and "100.0%" in out.stderr
        record = h.cli_json(shared_url, "status", "sleepy")
        assert record["status_message"] == "slept 1.0s of 1s"  # the last progress report is never dropped
        failed = h.cli(shared_url, "enqueue", "quantq.fail", "--args", '{"message": "on purpose"}', "--wait", check=False)
        assert failed.returncode == 1 and "on purpose" in failed.stderr
    finally:
        h.stop(worker)


def test_registry_logs_and_status_lines(shared_url: str, tmp_path: Path) -> None:
    [job_id] = submit(shared_url, {"task": "fixtures.stubborn", "args": {"seconds": 60}})
    log = tmp_path / "worker.log"
    worker = h.start_worker(shared_url, "--concurrency", "1", "--name", "reg-1", "--log-format", "json",
                            "--status-interval", "0.5", log=log)
    backend = h.open_backend(shared_url)
    try:
        h.wait_for(lambda: backend.get(job_id).status is S.RUNNING, what="the job to run")
        listed = h.wait_for(lambda: [w for w in h.cli_json(shared_url, "workers") if w["current_jobs"] == [job_id]],
                            timeout=10, what="the heartbeat to list the running job")
        assert listed[0]["id"] == "reg-1" and listed[0]["pid"] == worker.pid and listed[0]["queues"] == ["default"]
        h.wait_for(lambda: "default: 1/1 busy" in log.read_text(), timeout=10, what="a status line")
        backend.cancel(job_id)
        h.wait_for(lambda: "job.killed" in log.read_text(), timeout=10, what="the kill to be logged")
    finally:
        h.stop(worker)
        backend.close()
    events = [json.loads(line) for line in log.read_text().splitlines()]
    names = [e["event"] for e in events]
    assert names[0] == "worker.started" and names[-1] == "worker.stopped"
    assert {"job.started", "job.killed", "worker.status"} <= set(names)
    assert all({"ts", "level", "event"} <= set(e) for e in events)


def test_thread_mode_runs_jobs_and_enforces_timeouts(shared_url: str) -> None:
    ok, slow = submit(shared_url, {"task": "quantq.echo", "args": {"mode": "thread"}},
                      {"task": "fixtures.stubborn", "args": {"seconds": 5}, "timeout": 0.5, "max_attempts": 1})
    worker = h.start_worker(shared_url, "--concurrency", "2", "--mode", "thread")
    backend = h.open_backend(shared_url)
    try:
        h.wait_for(lambda: backend.get(ok).finished and backend.get(slow).finished, timeout=20, what="both jobs")
        assert backend.get(ok).result == {"mode": "thread"}
        assert backend.get(slow).error.type == "JobTimeout"
    finally:
        h.stop(worker)
        backend.close()


def test_memory_limit_fails_the_job_not_the_worker(shared_url: str) -> None:
    hog, after = submit(shared_url, {"task": "fixtures.hog", "args": {"megabytes": 4096}, "max_attempts": 1},
                        {"task": "quantq.noop"})
    worker = h.start_worker(shared_url, "--concurrency", "1", "--max-memory-mb", "1536")
    backend = h.open_backend(shared_url)
    try:
        h.wait_for(lambda: backend.get(hog).finished and backend.get(after).finished, timeout=30, what="both jobs")
        assert backend.get(hog).error.type == "MemoryError"
        assert backend.get(after).status is S.COMPLETED
    finally:
        h.stop(worker)
        backend.close()

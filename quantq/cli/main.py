"""The ``quantq`` command line.

Every command accepts ``--json`` where it prints something, reads ``--url`` /
``QUANTQ_URL`` / ``quantq.yml``, and turns errors into one plain line and a
non-zero exit code (1: the job failed or was cancelled; 2: bad input or
configuration; 3: the backend cannot be reached) — never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from quantq import App, backends, envelope, errors, jobs, logs, settings, tasks
from quantq.backends.base import JobFilter
from quantq.cli import output

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="quantq",
    help="quantq: jobs for quantitative market analysis (backtests, screenings, indicators, risk).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


class State:
    url: str | None = None
    config: str | None = None


state = State()

JsonOpt = typer.Option(False, "--json", help="Machine-readable JSON output.")


@app.callback()
def main_options(
    url: str | None = typer.Option(None, "--url", help="Backend URL (default: $QUANTQ_URL, quantq.yml, or the embedded SQLite file)."),
    config: str | None = typer.Option(None, "--config", help="Config file (default: $QUANTQ_CONFIG or ./quantq.yml)."),
) -> None:
    state.url = url
    state.config = config


def handle_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except errors.BackendUnavailable as exc:
            output.error(str(exc))
            raise typer.Exit(3) from None
        except (errors.JobFailed, errors.JobCancelled) as exc:
            output.error(str(exc))
            raise typer.Exit(1) from None
        except errors.QuantqError as exc:
            output.error(str(exc))
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def load_settings(**overrides: Any) -> settings.Settings:
    loaded, _ = settings.load(state.config, {"url": state.url, **overrides})
    return loaded


def open_backend(loaded: settings.Settings | None = None) -> backends.Backend:
    loaded = loaded or load_settings()
    return backends.from_url(loaded.url)


def parse_json_option(text: str | None, name: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise errors.EnvelopeError(name, f"is not valid JSON: {exc}") from None


def _get_job(backend: backends.Backend, job_id: str) -> jobs.Job:
    job = backend.get(job_id)
    if job is None:
        raise errors.JobNotFound(f"no job has id {job_id!r} (it may have expired)")
    return job


# ---- running ----------------------------------------------------------------------------------


@app.command()
@handle_errors
def worker(
    queues: str | None = typer.Option(None, "--queues", "-q", help="Comma-separated queues to serve (default: default)."),
    concurrency: int | None = typer.Option(None, "--concurrency", "-c", help="Jobs run at once (default: CPU count)."),
    name: str | None = typer.Option(None, "--name", help="Worker id (default: $WORKER_NAME or host-pid)."),
    burst: bool = typer.Option(False, "--burst", help="Exit once the queues are empty."),
    mode: str | None = typer.Option(None, "--mode", help="process (isolated, default) or thread (I/O-bound tasks)."),
    lease: float | None = typer.Option(None, "--lease", help="Lease seconds (default 30; $QUANTQ_LEASE)."),
    job_timeout: float | None = typer.Option(None, "--timeout", help="Timeout for jobs that set none ($MAX_JOB_TIME)."),
    grace: float | None = typer.Option(None, "--grace", help="Seconds running jobs get to finish on SIGTERM (default 30)."),
    imports: list[str] | None = typer.Option(None, "--import", "-i", help="Module with your tasks (repeatable)."),
    poll_interval: float | None = typer.Option(None, "--poll-interval", help="Longest idle wait in seconds ($POLL_TIMEOUT)."),
    retry_backoff: float | None = typer.Option(None, "--retry-backoff", help="First retry delay in seconds (doubles per attempt)."),
    max_memory_mb: int | None = typer.Option(None, "--max-memory-mb", help="Address-space limit per child process."),
    status_interval: float | None = typer.Option(None, "--status-interval", help="Seconds between status lines (0: off)."),
    log_format: str | None = typer.Option(None, "--log-format", help="text or json."),
    log_level: str | None = typer.Option(None, "--log-level", help="debug, info, warning or error."),
    bridges: list[str] | None = typer.Option(None, "--bridge", help="Also serve a foreign queue: seed001, seed000 (repeatable)."),
    prefetch: int | None = typer.Option(None, "--prefetch", help="Jobs claimed ahead of free slots (default 1; more for tiny jobs)."),
    batch: int | None = typer.Option(None, "--batch", min=1, help="Most short jobs lined up in one slot (default 64; 1 hands over one at a time)."),
    strict_sandbox: bool | None = typer.Option(
        None, "--strict-sandbox/--no-strict-sandbox",
        help="Refuse user strategy code unless the sandbox's process layout, limits, Landlock and seccomp are all "
        "active (default: strict; $QUANTQ_STRICT_SANDBOX=0 turns it off).",
    ),
) -> None:
    """Run a worker: claim jobs from the queues and run them in isolated processes."""
    if strict_sandbox is not None:
        import os

        # the setting the strategy tasks read in the worker's children (quantq.finance.tasks.strategy)
        os.environ["QUANTQ_STRICT_SANDBOX"] = "1" if strict_sandbox else "0"
    loaded = load_settings(
        queues=queues, concurrency=concurrency, worker_name=name, mode=mode, lease=lease, job_timeout=job_timeout,
        grace=grace, imports=tuple(imports) if imports else None, poll_interval=poll_interval,
        retry_backoff=retry_backoff, max_memory_mb=max_memory_mb, status_interval=status_interval,
        log_format=log_format, log_level=log_level, bridges=tuple(bridges) if bridges else None, prefetch=prefetch, batch=batch,
    )
    run_worker(loaded, burst=burst)


def run_worker(loaded: settings.Settings, *, burst: bool = False) -> None:
    from quantq.worker import Worker, WorkerOptions

    logs.configure(loaded.log_level, loaded.log_format, loaded.log_file)
    backend = open_backend(loaded)
    options = WorkerOptions(
        queues=loaded.queues, concurrency=loaded.concurrency, mode=loaded.mode, lease=loaded.lease,
        poll_interval=loaded.poll_interval, job_timeout=loaded.job_timeout, grace=loaded.grace, burst=burst,
        name=loaded.worker_name, imports=loaded.imports, retry_backoff=loaded.retry_backoff,
        max_memory_mb=loaded.max_memory_mb, status_interval=loaded.status_interval, prefetch=loaded.prefetch, batch=loaded.batch,
    )
    runners: list[Any] = []
    try:
        worker_ = Worker(backend, options)
        if loaded.bridges:
            from quantq.bridges import open_bridge

            runners = [open_bridge(name, backend, registry=worker_.registry).start() for name in loaded.bridges]
        worker_.run()
    finally:
        for runner in runners:
            runner.stop()
        backend.close()


@app.command()
@handle_errors
def up(
    concurrency: int | None = typer.Option(None, "--concurrency", "-c", help="Jobs run at once (default: CPU count)."),
    queues: str | None = typer.Option(None, "--queues", "-q", help="Queues to serve (default: default)."),
    imports: list[str] | None = typer.Option(None, "--import", "-i", help="Module with your tasks (repeatable)."),
    no_api: bool = typer.Option(False, "--no-api", help="Do not serve the HTTP API."),
) -> None:
    """Everything on one machine: workers, the scheduler (due jobs, lost leases, expired results) and the API."""
    loaded = load_settings(concurrency=concurrency, queues=queues, imports=tuple(imports) if imports else None)
    url = loaded.url or backends.default_url()
    output.err_console.print(f"quantq up: backend {backends.redact(url)}, queues {','.join(loaded.queues)}, "
                             f"concurrency {loaded.concurrency}")
    if not no_api:
        _start_api_thread(loaded)
    run_worker(loaded)


def _start_api_thread(loaded: settings.Settings) -> None:
    """Serve the HTTP API beside the workers, when this build has it."""
    try:
        from quantq.api import serve_in_thread  # type: ignore[attr-defined]
    except ImportError:
        return
    serve_in_thread(loaded)


@app.command()
@handle_errors
def api(
    host: str | None = typer.Option(None, "--host", help="Address to bind (default 127.0.0.1; $QUANTQ_API_HOST)."),
    port: int | None = typer.Option(None, "--port", help="Port (default 8000; $QUANTQ_API_PORT)."),
    insecure: bool = typer.Option(False, "--insecure", help="Allow binding beyond loopback with no API keys."),
    imports: list[str] | None = typer.Option(None, "--import", "-i", help="Module with your tasks (repeatable)."),
) -> None:
    """Serve the HTTP API alone (workers run elsewhere)."""
    from quantq.api import serve

    loaded = load_settings(api_host=host, api_port=port, imports=tuple(imports) if imports else None)
    serve(loaded, insecure=insecure)


@app.command()
@handle_errors
def scheduler(
    interval: float = typer.Option(1.0, "--interval", help="Seconds between passes."),
    once: bool = typer.Option(False, "--once", help="One pass, then exit."),
    json_out: bool = JsonOpt,
) -> None:
    """Promote due jobs, requeue jobs whose lease ran out, prune expired results (workers do this too)."""
    backend = open_backend()
    loaded = load_settings()
    logs.configure(loaded.log_level, loaded.log_format, loaded.log_file)
    try:
        while True:
            done = {"promoted": backend.promote_due(), "reaped": backend.reap_expired(), "pruned": backend.prune(),
                    "workers_forgotten": backend.reap_workers(max(60.0, loaded.lease * 3))}
            if once:
                output.print_json(done) if json_out else output.console.print(done)
                return
            time.sleep(interval)
    finally:
        backend.close()


# ---- submitting -------------------------------------------------------------------------------


@app.command()
@handle_errors
def enqueue(
    task: str = typer.Argument(..., help="Task name, e.g. quantq.sleep."),
    args: str | None = typer.Option(None, "--args", help="Task arguments as a JSON object, or @file.json."),
    queue: str | None = typer.Option(None, "--queue", "-q"),
    priority: str | None = typer.Option(None, "--priority", "-p", help="high, normal, low or 0-9 (9 first)."),
    delay: float | None = typer.Option(None, "--delay", help="Seconds to wait before the job may run."),
    run_at: str | None = typer.Option(None, "--run-at", help="ISO 8601 time with offset."),
    timeout: float | None = typer.Option(None, "--timeout", help="Seconds per attempt before the job is killed."),
    max_attempts: int | None = typer.Option(None, "--max-attempts"),
    job_id: str | None = typer.Option(None, "--id", help="Your own job id (enqueueing it twice is a no-op)."),
    meta: str | None = typer.Option(None, "--meta", help="JSON object kept with the job."),
    wait: bool = typer.Option(False, "--wait", help="Show progress and print the result."),
    immediate: bool = typer.Option(False, "--immediate", help="Run it here and now, in this process (no worker)."),
    imports: list[str] | None = typer.Option(None, "--import", "-i", help="Module with your tasks (repeatable)."),
    wait_timeout: float | None = typer.Option(None, "--wait-timeout", help="Give up waiting after this many seconds."),
    json_out: bool = JsonOpt,
) -> None:
    """Enqueue a job; prints its id, or with --wait its result."""
    if args is not None and args.startswith("@"):
        try:
            args = Path(args[1:]).read_text()
        except OSError as exc:
            raise errors.EnvelopeError("args", f"cannot read {args[1:]!r}: {exc.strerror}") from None
    submission: dict[str, Any] = {"task": task, "args": parse_json_option(args, "args") if args is not None else {}}
    for key, value in (("queue", queue), ("priority", priority), ("delay", delay), ("run_at", run_at),
                       ("timeout", timeout), ("max_attempts", max_attempts), ("id", job_id),
                       ("meta", parse_json_option(meta, "meta"))):
        if value is not None:
            submission[key] = value
    loaded = load_settings(imports=tuple(imports) if imports else None)
    quantq_app = App(loaded.url, immediate=immediate)
    quantq_app.registry = tasks.default_registry(loaded.imports)
    handle = quantq_app.submit_envelope(submission)
    if immediate or wait:
        job = handle.fetch() if immediate else _wait_with_progress(quantq_app, handle.id, wait_timeout, quiet=json_out)
        _print_outcome(job, json_out)
        return
    if json_out:
        output.print_json(envelope.to_record(handle.fetch()))
    else:
        sys.stdout.write(handle.id + "\n")


def _wait_with_progress(quantq_app: App, job_id: str, wait_timeout: float | None, quiet: bool) -> jobs.Job:
    deadline = None if wait_timeout is None else time.monotonic() + wait_timeout
    backend = quantq_app.backend
    columns = [TextColumn("[bold]{task.fields[status]:<9}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
               TimeElapsedColumn(), TextColumn("{task.description}")]
    with Progress(*columns, console=output.err_console, transient=False, disable=quiet) as progress:
        bar = progress.add_task("", total=100, status="queued")
        job = _get_job(backend, job_id)
        while True:
            progress.update(bar, completed=job.progress, status=job.status.value, description=job.status_message or "")
            if job.finished:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise errors.WaitTimeout(f"job {job_id} still {job.status.value} after {wait_timeout}s (it goes on)")
            # the record in 0.1 s, or as soon as the job finishes (None: it is gone, which _get_job reports)
            job = backend.wait_finished(job_id, 0.1) or _get_job(backend, job_id)


def _print_outcome(job: jobs.Job, json_out: bool) -> None:
    if json_out:
        output.print_json(envelope.to_record(job))
    elif job.status is jobs.JobStatus.COMPLETED:
        output.print_json(job.result)
    if job.status is jobs.JobStatus.FAILED:
        detail = f"{job.error.type}: {job.error.message}" if job.error else "failed"
        if not json_out and job.error and job.error.traceback:
            output.err_console.print(job.error.traceback, style="dim", highlight=False, markup=False)
        raise errors.JobFailed(f"job {job.id} failed after {job.attempts} attempt(s): {detail}")
    if job.status is jobs.JobStatus.CANCELLED:
        raise errors.JobCancelled(f"job {job.id} was cancelled")


# ---- inspecting -------------------------------------------------------------------------------


@app.command()
@handle_errors
def status(job_id: str, json_out: bool = JsonOpt) -> None:
    """Show a job."""
    backend = open_backend()
    job = _get_job(backend, job_id)
    output.print_json(envelope.to_record(job)) if json_out else output.job_detail(job)


@app.command()
@handle_errors
def result(job_id: str, json_out: bool = JsonOpt) -> None:
    """Print a completed job's result (exit 1 if it failed or was cancelled, 2 if not finished)."""
    job = _get_job(open_backend(), job_id)
    if not job.finished:
        raise errors.InvalidTransition(f"job {job_id} is {job.status.value}: no result yet")
    _print_outcome(job, json_out)


@app.command()
@handle_errors
def cancel(job_id: str, json_out: bool = JsonOpt) -> None:
    """Cancel a scheduled, queued or running job (a running one stops within a second or two)."""
    job = open_backend().cancel(job_id)
    output.print_json(envelope.to_record(job)) if json_out else output.console.print(f"cancelled {job.id}")


@app.command()
@handle_errors
def retry(job_id: str, json_out: bool = JsonOpt) -> None:
    """Run a failed or cancelled job again."""
    job = open_backend().retry(job_id)
    output.print_json(envelope.to_record(job)) if json_out else output.console.print(f"queued {job.id} again")


@app.command(name="jobs")
@handle_errors
def list_jobs(
    status_filter: list[str] | None = typer.Option(None, "--status", "-s", help="Status to show (repeatable)."),
    queue: str | None = typer.Option(None, "--queue", "-q"),
    task: str | None = typer.Option(None, "--task", "-t"),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=10000),
    before: str | None = typer.Option(None, "--before", help="Continue after this job id (pagination)."),
    json_out: bool = JsonOpt,
) -> None:
    """List jobs, newest first."""
    try:
        statuses = tuple(jobs.JobStatus(s.lower()) for s in status_filter or [])
    except ValueError:
        raise errors.ConfigError(f"--status must be one of {', '.join(s.value for s in jobs.JobStatus)}") from None
    found = open_backend().list_jobs(JobFilter(statuses=statuses, queue=queue, task=task, limit=limit, before=before))
    output.print_json([envelope.to_record(j) for j in found]) if json_out else output.jobs_table(found)


@app.command()
@handle_errors
def queues(json_out: bool = JsonOpt) -> None:
    """Jobs per queue and status."""
    stats = open_backend().queue_stats()
    output.print_json([output.queue_stats_json(s) for s in stats]) if json_out else output.queues_table(stats)


@app.command()
@handle_errors
def pause(queue: str, json_out: bool = JsonOpt) -> None:
    """Stop handing out a queue's jobs (it still accepts new ones)."""
    open_backend().set_paused(envelope.check_queue(queue), True)
    output.print_json({"queue": queue, "paused": True}) if json_out else output.console.print(f"paused {queue}")


@app.command()
@handle_errors
def resume(queue: str, json_out: bool = JsonOpt) -> None:
    """Hand out a paused queue's jobs again."""
    open_backend().set_paused(envelope.check_queue(queue), False)
    output.print_json({"queue": queue, "paused": False}) if json_out else output.console.print(f"resumed {queue}")


@app.command()
@handle_errors
def workers(json_out: bool = JsonOpt) -> None:
    """Workers that have sent a heartbeat recently."""
    found = open_backend().list_workers()
    output.print_json([output.worker_json(w) for w in found]) if json_out else output.workers_table(found)


@app.command()
@handle_errors
def stats(json_out: bool = JsonOpt) -> None:
    """Totals: jobs per status, queues, workers."""
    backend = open_backend()
    queue_stats = backend.queue_stats()
    workers_found = backend.list_workers()
    totals = {s.value: sum(q.counts.get(s.value, 0) for q in queue_stats) for s in jobs.JobStatus}
    data = {
        "jobs": totals, "queues": len(queue_stats), "workers": len(workers_found),
        "busy_slots": sum(len(w.current_jobs) for w in workers_found),
        "slots": sum(w.concurrency for w in workers_found),
        "processed": sum(w.processed for w in workers_found), "failed": sum(w.failed for w in workers_found),
    }
    if json_out:
        output.print_json(data)
        return
    output.console.print(" ".join(f"{k}={v}" for k, v in totals.items()))
    output.console.print(f"queues={data['queues']} workers={data['workers']} busy={data['busy_slots']}/{data['slots']}")


@app.command()
@handle_errors
def purge(
    queue: str | None = typer.Option(None, "--queue", "-q", help="Only this queue."),
    status_filter: list[str] | None = typer.Option(None, "--status", "-s",
                                                      help="Statuses to delete (default: completed, failed, cancelled)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
    json_out: bool = JsonOpt,
) -> None:
    """Delete finished jobs (or the statuses given); running jobs are never purged."""
    try:
        statuses = tuple(jobs.JobStatus(s.lower()) for s in status_filter) if status_filter else tuple(jobs.FINISHED)
    except ValueError:
        raise errors.ConfigError(f"--status must be one of {', '.join(s.value for s in jobs.JobStatus)}") from None
    if jobs.JobStatus.RUNNING in statuses:
        raise errors.ConfigError("running jobs cannot be purged; cancel them first")
    if not yes and sys.stdin.isatty():
        what = ", ".join(s.value for s in statuses)
        typer.confirm(f"Delete {what} jobs{f' in {queue}' if queue else ''}?", abort=True)
    removed = open_backend().purge(queue=queue, statuses=statuses)
    output.print_json({"purged": removed}) if json_out else output.console.print(f"purged {removed} job(s)")


@app.command()
@handle_errors
def migrate(json_out: bool = JsonOpt) -> None:
    """Apply pending schema migrations to a PostgreSQL or MySQL/MariaDB backend."""
    from quantq.backends.migrations import migrate as apply_migrations

    loaded = load_settings()
    applied = apply_migrations(loaded.url or backends.default_url())
    if json_out:
        output.print_json({"applied": applied})
    elif applied:
        output.console.print("applied: " + ", ".join(applied))
    else:
        output.console.print("the schema is up to date")


# ---- configuration ----------------------------------------------------------------------------


@config_app.command("check")
@handle_errors
def config_check(json_out: bool = JsonOpt) -> None:
    """Check the configuration: file, environment, backend reachable, task modules importable."""
    loaded, problems = settings.load(state.config, {"url": state.url}, strict=False)
    checks: list[dict[str, Any]] = [{"check": "configuration", "ok": not problems, "detail": "; ".join(problems) or (loaded.source or "defaults and environment")}]
    url = loaded.url or backends.default_url()
    try:
        backend = backends.from_url(url)
        backend.ping()
        backend.close()
        checks.append({"check": "backend", "ok": True, "detail": backends.redact(url)})
    except errors.QuantqError as exc:
        checks.append({"check": "backend", "ok": False, "detail": f"{backends.redact(url)}: {exc}"})
    try:
        registry = tasks.default_registry(loaded.imports)
        checks.append({"check": "tasks", "ok": True, "detail": f"{len(registry)} tasks: {', '.join(registry.names())}"})
    except errors.QuantqError as exc:
        checks.append({"check": "tasks", "ok": False, "detail": str(exc)})
    if json_out:
        output.print_json({"ok": all(c["ok"] for c in checks), "checks": checks})
    else:
        for c in checks:
            mark = "[green]ok[/]  " if c["ok"] else "[red]FAIL[/]"
            output.console.print(f"{mark} {c['check']}: {c['detail']}", highlight=False)
    if not all(c["ok"] for c in checks):
        raise typer.Exit(2)


@config_app.command("show")
@handle_errors
def config_show() -> None:
    """Print the settings in force (passwords hidden)."""
    loaded = load_settings()
    data = {k: v for k, v in loaded.__dict__.items()}
    data["url"] = backends.redact(loaded.url or backends.default_url())
    output.print_json(data)


# ---- plugins ----------------------------------------------------------------------------------


def _load_plugin_commands() -> None:
    """Sub-commands from installed plugins (``quantq data`` comes from the finance layer)."""
    for ep in metadata.entry_points(group="quantq.cli"):
        try:
            sub = ep.load()
        except ImportError as exc:
            _add_missing(ep.name, str(exc))
            continue
        app.add_typer(sub, name=ep.name)


def _add_missing(name: str, reason: str) -> None:
    @app.command(name=name, context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, hidden=False,
                 help=f"(unavailable: {reason})")
    def unavailable() -> None:
        output.error(f"'quantq {name}' needs the finance extra: pip install 'quantq[finance]' ({reason})")
        raise typer.Exit(2)


def main() -> None:
    _load_plugin_commands()
    app()


if __name__ == "__main__":
    main()

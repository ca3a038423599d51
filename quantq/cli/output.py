"""How the CLI prints: Rich tables for people, JSON with ``--json`` for programs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from quantq import envelope, jobs
from quantq.backends.base import QueueStats, WorkerInfo

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True)


def ago(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    seconds = (datetime.now(UTC) - moment).total_seconds()
    if seconds < 0:
        return f"in {_span(-seconds)}"
    return f"{_span(seconds)} ago"


def _span(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


STATUS_STYLE = {
    "scheduled": "cyan", "queued": "blue", "running": "yellow",
    "completed": "green", "failed": "red", "cancelled": "magenta",
}


def status_text(status: jobs.JobStatus) -> str:
    return f"[{STATUS_STYLE[status.value]}]{status.value}[/]"


def job_detail(job: jobs.Job) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    record = envelope.to_record(job)
    for key in ("id", "task", "queue", "status", "priority", "attempts", "max_attempts", "progress", "status_message",
                "timeout", "run_at", "created_at", "started_at", "finished_at", "worker_id", "hostname"):
        value = record[key]
        if key == "status":
            value = status_text(job.status)
        elif key == "attempts":
            value = f"{job.attempts}/{job.max_attempts}"
        elif key == "max_attempts":
            continue
        table.add_row(key, "-" if value is None else str(value))
    table.add_row("args", json.dumps(job.args))
    if job.meta:
        table.add_row("meta", json.dumps(job.meta))
    if job.error:
        table.add_row("error", f"[red]{job.error.type}: {job.error.message}[/]")
    console.print(table)
    if job.error and job.error.traceback:
        console.print(job.error.traceback, style="dim", highlight=False, markup=False)


def jobs_table(found: Sequence[jobs.Job]) -> None:
    table = Table(title=f"{len(found)} job(s)")
    for column in ("id", "task", "queue", "status", "prio", "tries", "progress", "created"):
        table.add_column(column)
    for job in found:
        table.add_row(job.id, job.task, job.queue, status_text(job.status), str(job.priority),
                      f"{job.attempts}/{job.max_attempts}", f"{job.progress:.0f}%", ago(job.created_at))
    console.print(table)


def queues_table(stats: Iterable[QueueStats]) -> None:
    table = Table(title="queues")
    table.add_column("queue")
    for status in jobs.JobStatus:
        table.add_column(status.value, justify="right")
    table.add_column("oldest waiting")
    table.add_column("paused")
    for s in stats:
        table.add_row(s.name, *(str(s.counts.get(st.value, 0)) for st in jobs.JobStatus), ago(s.oldest_queued_at),
                      "yes" if s.paused else "")
    console.print(table)


def queue_stats_json(s: QueueStats) -> dict[str, Any]:
    return {"name": s.name, "counts": s.counts, "paused": s.paused, "oldest_queued_at": envelope.format_time(s.oldest_queued_at)}


def worker_json(w: WorkerInfo) -> dict[str, Any]:
    return {
        "id": w.id, "hostname": w.hostname, "pid": w.pid, "queues": list(w.queues), "concurrency": w.concurrency,
        "started_at": envelope.format_time(w.started_at), "heartbeat_at": envelope.format_time(w.heartbeat_at),
        "current_jobs": list(w.current_jobs), "processed": w.processed, "failed": w.failed, "meta": w.meta,
    }


def workers_table(workers: Iterable[WorkerInfo]) -> None:
    table = Table(title="workers")
    for column in ("id", "host", "pid", "queues", "busy", "processed", "failed", "heartbeat"):
        table.add_column(column)
    for w in workers:
        table.add_row(w.id, w.hostname, str(w.pid), ",".join(w.queues), f"{len(w.current_jobs)}/{w.concurrency}",
                      str(w.processed), str(w.failed), ago(w.heartbeat_at))
    console.print(table)

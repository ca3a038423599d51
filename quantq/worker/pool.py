"""Slots: where jobs run.  A process slot is a long-lived child process (one job at a
time; killed and replaced on timeout, cancel or memory overrun); a thread slot runs
the same loop in a thread, for I/O-bound tasks.  Both speak JSON over a socket pair.

A slot holds a short line of claims: the head runs, the rest wait in the child's own
queue (handed over in one message), so short jobs cost one frame per batch instead of
one round trip each.  The supervisor only lines jobs up this way when they are short.
"""

from __future__ import annotations

import collections
import json
import os
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from quantq import jobs, tasks


class Slot:
    """One place jobs run; ``claims`` are the jobs handed to it, the first one running."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.conn: Connection | None = None
        self.claims: collections.deque[jobs.Claim] = collections.deque()
        self.deadline: float | None = None  #: monotonic time the running job must end by
        self.cancels: dict[str, float] = {}  #: job id -> when a cancel was sent for it
        self.last_progress_write = 0.0
        self.pending_progress: tuple[float, str | None] | None = None
        self.started = 0.0  #: when the running job started (as far as the supervisor can tell)
        self.ready = False  #: the child has loaded its tasks and warmed up (sent "ready")

    @property
    def claim(self) -> jobs.Claim | None:
        """The running job's claim."""
        return self.claims[0] if self.claims else None

    @property
    def busy(self) -> bool:
        return bool(self.claims)

    @property
    def cancel_sent_at(self) -> float | None:
        """When the running job was asked to stop (never before it started)."""
        head = self.claim
        if head is None or head.job_id not in self.cancels:
            return None
        return max(self.cancels[head.job_id], self.started)

    def start(self) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        raise NotImplementedError

    def stop(self, timeout: float = 2.0) -> None:
        """Ask an idle slot to finish; kill it if it does not within ``timeout``."""
        raise NotImplementedError

    def alive(self) -> bool:
        raise NotImplementedError

    def pid(self) -> int | None:
        return None

    def exit_code(self) -> int | None:
        return None

    def send(self, message: dict[str, Any]) -> bool:
        if self.conn is None:
            return False
        try:
            self.conn.send_bytes(json.dumps(message, separators=(",", ":")).encode())
            return True
        except (OSError, ValueError):
            return False

    def receive(self) -> dict[str, Any] | None:
        """One message, or None when the other side has gone."""
        if self.conn is None:
            return None
        try:
            return json.loads(self.conn.recv_bytes())
        except (EOFError, OSError, ValueError):
            return None

    def assign(self, claims: list[jobs.Claim], payloads: list[dict[str, Any]], head_timeout: float | None) -> bool:
        """Hand over jobs in one message; ``head_timeout`` applies if the first starts now."""
        if not self.claims:
            self.begin(head_timeout)
        self.claims.extend(claims)
        if len(payloads) == 1:
            return self.send({"kind": "job", "job": payloads[0]})
        return self.send({"kind": "jobs", "jobs": payloads})

    def begin(self, timeout: float | None) -> None:
        """The next job in line starts now."""
        self.started = time.monotonic()
        self.deadline = None if timeout is None else self.started + timeout
        self.pending_progress = None
        self.last_progress_write = 0.0

    def finish_head(self) -> jobs.Claim:
        claim = self.claims.popleft()
        self.cancels.pop(claim.job_id, None)
        self.pending_progress = None
        return claim

    def clear(self) -> list[jobs.Claim]:
        """Forget every job handed over (the slot is being replaced); returns them, head first."""
        claims = list(self.claims)
        self.claims.clear()
        self.cancels.clear()
        self.deadline = None
        self.pending_progress = None
        return claims


class ProcessSlot(Slot):
    def __init__(self, index: int, imports: tuple[str, ...], max_memory_mb: int = 0) -> None:
        super().__init__(index)
        self.imports = imports
        self.max_memory_mb = max_memory_mb
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        parent_sock, child_sock = socket.socketpair()
        command = [sys.executable, "-m", "quantq.worker.child", "--fd", str(child_sock.fileno())]
        for module in self.imports:
            command += ["--import", module]
        if self.max_memory_mb:
            command += ["--max-memory-mb", str(self.max_memory_mb)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in [os.getcwd(), env.get("PYTHONPATH", "")] if p)
        self.process = subprocess.Popen(command, pass_fds=[child_sock.fileno()], env=env, close_fds=True)
        child_sock.close()
        self.conn = Connection(parent_sock.detach())

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def stop(self, timeout: float = 2.0) -> None:
        """Ask an idle child to exit; kill it if it does not."""
        self.send({"kind": "stop"})
        if self.process is not None:
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def exit_code(self) -> int | None:
        """The child's exit status once it has ended (waiting briefly for the kernel to report it)."""
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return None


class ThreadSlot(Slot):
    """A thread cannot be killed: past its timeout the job is failed and the thread
    abandoned (it finishes in the background and its outcome is ignored)."""

    def __init__(self, index: int, registry: tasks.Registry) -> None:
        super().__init__(index)
        self.registry = registry
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        from quantq.worker.child import serve_connection

        parent_sock, child_sock = socket.socketpair()
        child_conn = Connection(child_sock.detach())
        self.thread = threading.Thread(
            target=serve_connection, args=(child_conn, self.registry), name=f"quantq-slot-{self.index}", daemon=True
        )
        self.thread.start()
        self.conn = Connection(parent_sock.detach())

    def kill(self) -> None:
        if self.conn is not None:
            self.conn.close()  # the thread's next send fails and its loop ends
            self.conn = None

    def stop(self, timeout: float = 2.0) -> None:
        self.send({"kind": "stop"})
        if self.thread is not None:
            self.thread.join(timeout)
        self.kill()

    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

"""Slots: where jobs run.  A process slot is a long-lived child process (one job at a
time; killed and replaced on timeout, cancel or memory overrun); a thread slot runs
the same loop in a thread, for I/O-bound tasks.  Both speak JSON over a socket pair.

A slot holds a short line of claims: the head runs, the rest wait in the child's own
queue (handed over in one message), so short jobs cost one frame per batch instead of
one round trip each.  The supervisor only lines jobs up this way when they are short.
"""

from __future__ import annotations

import collections
import os
import queue
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from quantq import jobs, tasks
from quantq.envelope import compact, loads

READ_CHUNK = 1 << 16  #: bytes read from a slot's socket at once (more while a big message is part read)
READ_MOST = 1 << 24
_LENGTH = struct.Struct("!i")
_LONG_LENGTH = struct.Struct("!Q")


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
        self._unread = bytearray()  #: bytes read from the child that do not yet make a whole message
        self._short = 0  #: bytes the message part read still lacks

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
            self.conn.send_bytes(compact(message).encode())
            return True
        except (OSError, ValueError):
            return False

    def receive_all(self) -> tuple[list[dict[str, Any]], bool]:
        """Every whole message the other side has sent so far, from one read of the socket
        (not two reads and a poll per message: short jobs end thousands of times a second),
        and whether the other side has gone (closed, or sent something that is not a
        message: the messages before it still count).  Call it when the connection is readable."""
        if self.conn is None:
            return [], True
        try:
            chunk = os.read(self.conn.fileno(), min(max(READ_CHUNK, self._short), READ_MOST))
        except BlockingIOError:
            return [], False
        except OSError:
            return [], True
        if not chunk:
            return [], True
        buf = self._unread
        buf += chunk
        messages: list[dict[str, Any]] = []
        pos, end = 0, len(buf)
        # multiprocessing's framing, which the other side writes with send_bytes: a signed
        # 4-byte big-endian length, or -1 and an 8-byte length for a message over 2 GiB
        while end - pos >= 4:
            (size,) = _LENGTH.unpack_from(buf, pos)
            head = 4
            if size == -1:
                if end - pos < 12:
                    break
                (size,) = _LONG_LENGTH.unpack_from(buf, pos + 4)
                head = 12
            if size < 0:
                return messages, True
            if end - pos < head + size:
                break
            try:
                message = loads(buf[pos + head: pos + head + size].decode())
            except ValueError:
                return messages, True
            if not isinstance(message, dict):
                return messages, True
            messages.append(message)
            pos += head + size
        del buf[:pos]
        self._short = 0
        if len(buf) >= 4:  # a message part read: ask for the rest in one read next time
            (size,) = _LENGTH.unpack_from(buf, 0)
            self._short = size + 4 - len(buf) if size >= 0 else READ_MOST
        return messages, False

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

    def __init__(self, index: int, registry: tasks.Registry,
                 around_send: Callable[[Slot, Callable[[], None], Callable[[], dict[str, Any]]], None] | None = None,
                 on_receive: Callable[[], None] | None = None) -> None:
        super().__init__(index)
        self.registry = registry
        self.thread: threading.Thread | None = None
        #: given each message of the slot's thread, on that thread, to write it or to hand it over
        #: there and then (see Worker._send_or_hand)
        self.around_send = around_send
        self.on_receive = on_receive  #: called on the slot's thread as it reads each message
        #: the supervisor's messages to the thread, as they are (None ends its loop): in one
        #: process a queue needs no JSON and no socket, and wakes the thread sooner
        self._inbox: queue.SimpleQueue[dict[str, Any] | None] | None = None
        #: the thread's messages to the supervisor, as they are; its socket carries only wake-ups
        #: (one while any is unread: a busy supervisor's thousands of outcomes a second would
        #: otherwise each be JSON, a write, and a read)
        self._outbox: collections.deque[dict[str, Any]] = collections.deque()
        self._wake_sent = False  #: set by the thread as it writes a wake-up; cleared before each read
        #: read by two threads in turn (the supervisor, and the slot's own in _send_or_hand):
        #: whether a wake-up is there to read (one ready for one may be gone when the other reads)
        self._readable: select.poll | None = None

    def start(self) -> None:
        from quantq.worker.child import serve_connection

        parent_sock, child_sock = socket.socketpair()  # (the thread's wake-ups: the supervisor polls it)
        child_conn = Connection(child_sock.detach())
        around = self.around_send
        self._inbox = queue.SimpleQueue()
        outbox = self._outbox

        def post(message: dict[str, Any]) -> None:  # (on the slot's thread)
            outbox.append(message)  # before the flag is read: see receive_all
            if not self._wake_sent:
                self._wake_sent = True
                child_conn.send_bytes(b"")  # (an OSError once the supervisor has closed its end ends the thread)

        self.thread = threading.Thread(
            target=serve_connection, name=f"quantq-slot-{self.index}", daemon=True,
            args=(child_conn, self.registry, None, (lambda write, message: around(self, write, message)) if around else None,
                  self.on_receive, self._inbox, post),
        )
        self._readable = select.poll()
        self._readable.register(parent_sock.fileno(), select.POLLIN)
        self.thread.start()
        self.conn = Connection(parent_sock.detach())

    def send(self, message: dict[str, Any]) -> bool:
        if self.conn is None or self._inbox is None:
            return False
        self._inbox.put(message)
        return True

    def receive_all(self) -> tuple[list[dict[str, Any]], bool]:
        """Every message the thread has posted so far, and whether it has ended.  The wake-ups
        are read, then the flag cleared, then the messages taken: a message posted after the
        taking finds the flag clear and writes a wake-up of its own, so none is left unread."""
        if self.conn is None:
            return [], True
        gone = False
        if self._readable is not None and self._readable.poll(0):
            try:
                gone = not os.read(self.conn.fileno(), READ_CHUNK)
            except BlockingIOError:
                pass
            except OSError:
                gone = True
        self._wake_sent = False
        outbox = self._outbox
        messages = [outbox.popleft() for _ in range(len(outbox))]
        return messages, gone

    def kill(self) -> None:
        if self._inbox is not None:
            self._inbox.put(None)  # the thread's loop ends once its job (if any) is over
        if self.conn is not None:
            self.conn.close()  # and its next send fails
            self.conn = None

    def stop(self, timeout: float = 2.0) -> None:
        self.send({"kind": "stop"})
        if self.thread is not None:
            self.thread.join(timeout)
        self.kill()

    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

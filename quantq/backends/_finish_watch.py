"""Callers waiting on jobs, told when one finishes (``Backend.wait_finished``).

A backend with a notification channel (PostgreSQL ``LISTEN``, Redis pub/sub) gives a
``listen`` function that opens one session, calls ``ready()`` once notices flow, then calls
``told(job_id)`` for each finished job until ``closed()`` (an exception ends the session; it is
opened again).  One daemon thread per backend runs it for every waiter in the process.  A notice
only wakes the job's waiters: they read the record themselves, and look again every
``RECHECK`` seconds anyway, so a notice missed (a session lost and reopened, a row changed by
hand) costs a waiter at most that long.  With no waiter for ``IDLE`` seconds the session ends
(a Redis subscription hears every event of a busy system) and the next waiter opens another.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from quantq import jobs

Listen = Callable[[Callable[[], None], Callable[[str], None], Callable[[], bool]], None]


class FinishWatch:
    TICK = 0.25  #: how often a session looks up from its wait, to notice close() or idleness
    RECHECK = 1.0
    IDLE = 10.0

    def __init__(self, listen: Listen, name: str) -> None:
        self._listen = listen
        self._name = name
        self._lock = threading.Lock()
        self._waiters: dict[str, set[threading.Event]] = {}
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._idle_since: float | None = None
        self._retiring = False  #: the session is ending for want of waiters (under _lock)

    def wait_finished(self, get: Callable[[str], jobs.Job | None], job_id: str, timeout: float) -> jobs.Job | None:
        deadline = time.monotonic() + timeout
        told = self._watch(job_id)
        try:
            while True:
                told.clear()  # (before the read: a notice from now on means look again)
                job = get(job_id)
                left = deadline - time.monotonic()
                if job is None or job.finished or left <= 0:
                    return job
                told.wait(min(left, self.RECHECK))
        finally:
            self._unwatch(job_id, told)

    def close(self) -> None:
        self._closed = True
        if self._thread is not None:
            self._thread.join(2 * self.TICK)

    def _watch(self, job_id: str) -> threading.Event:
        told = threading.Event()
        with self._lock:
            self._waiters.setdefault(job_id, set()).add(told)
            self._retiring = False  # (a session on its way out stays, or is opened again)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        # a notice sent before the session listens is lost: the waiter reads the record only
        # after it does (if no session can be had, the waiter just looks every RECHECK seconds)
        self._listening.wait(self.RECHECK)
        return told

    def _unwatch(self, job_id: str, told: threading.Event) -> None:
        with self._lock:
            waiting = self._waiters.get(job_id)
            if waiting is not None:
                waiting.discard(told)
                if not waiting:
                    del self._waiters[job_id]

    def _wake(self, job_id: str | None) -> None:
        with self._lock:
            if job_id is None:
                waiting = [e for es in self._waiters.values() for e in es]
            else:
                waiting = list(self._waiters.get(job_id, ()))
        for told in waiting:
            told.set()

    def _done_listening(self) -> bool:
        """The session's ``closed()``: the watch is closed, or nobody has waited for IDLE seconds."""
        if self._closed:
            return True
        with self._lock:
            if self._waiters:
                self._idle_since = None
            elif self._idle_since is None:
                self._idle_since = time.monotonic()
            elif time.monotonic() - self._idle_since >= self.IDLE:
                self._retiring = True
            return self._retiring

    def _ready(self) -> None:
        self._listening.set()
        self._wake(None)  # what finished while no session listened: look again

    def _run(self) -> None:
        delay = 0.05
        while not self._closed:
            began = time.monotonic()
            lost = False
            try:
                self._listen(self._ready, self._wake, self._done_listening)
            except Exception:  # the session is lost (server gone, connection cut): open another
                lost = True
            finally:
                self._listening.clear()
                self._wake(None)
            with self._lock:
                if self._closed or self._retiring:  # (a waiter that came meanwhile cleared _retiring)
                    self._thread, self._retiring, self._idle_since = None, False, None
                    return
            if lost:
                delay = 0.05 if time.monotonic() - began > 5 else min(delay * 2, 2.0)
                time.sleep(delay)

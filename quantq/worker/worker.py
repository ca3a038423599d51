"""The worker: a supervisor that claims jobs and runs them in a pool of slots.

Two threads.  The claimer blocks on the backend (wake-ups, blocking pops) while a
slot is free and hands claims over; the supervisor (main thread) watches the slots,
relays progress, reports outcomes in batches, renews leases, enforces timeouts,
stops cancelled jobs, and runs the periodic maintenance.  Signals only set flags.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import queue
import random
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from quantq import errors, jobs, tasks
from quantq.backends import redact
from quantq.backends.base import Backend, Outcome, WorkerInfo
from quantq.logs import event
from quantq.worker import execute
from quantq.worker.pool import ProcessSlot, Slot, ThreadSlot

log = logging.getLogger("quantq.worker")

PROGRESS_EVERY = 0.25  # seconds between progress writes for one job (the last one always lands)
LOST_CHECK_EVERY = 0.5  # how often running claims are checked for cancellation
CANCEL_GRACE = 0.5  # seconds a cancelled job gets to stop by itself before its process is killed
PROMOTE_EVERY = 0.5
PRUNE_EVERY = 60.0
BATCH_SLICE = 0.01  #: when jobs are short, a slot is handed about this many seconds of work at once
BATCH_MAX = 64  #: default for the most jobs lined up in one slot
LINES_HELD = 3  #: lines held per slot while jobs are lined up: the running one, the next, and room for a claim
HANDOVER_WAIT = 0.002  #: longest an idle worker's claimer waits for its claims to be taken (see _claim_loop)
INLINE_WAIT = 0.001  #: longest a thread slot ending its line waits to hand its outcome over itself (_send_or_hand)


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkerOptions:
    queues: tuple[str, ...] = (jobs.DEFAULT_QUEUE,)
    concurrency: int = max(1, os.cpu_count() or 1)
    mode: str = "process"  #: "process" (isolated child processes) or "thread" (I/O-bound tasks)
    lease: float = 30.0  #: seconds a claim is held without a renewal; renewed every lease/3
    poll_interval: float = 5.0  #: longest idle wait between checks for work (wake-ups cut it short)
    job_timeout: float | None = None  #: timeout for jobs that set none (MAX_JOB_TIME)
    grace: float = 30.0  #: on SIGTERM, how long running jobs may go on before they are handed back
    burst: bool = False  #: exit once the queues are empty and nothing runs
    name: str | None = None  #: worker id (WORKER_NAME); default host-pid-random
    imports: tuple[str, ...] = ()  #: modules with the user's tasks
    retry_backoff: float = 2.0  #: first retry delay in seconds; doubles per attempt, with jitter
    retry_backoff_max: float = 600.0
    max_memory_mb: int = 0  #: per child process; 0 is no limit
    prefetch: int = 1  #: jobs claimed ahead of a free slot, so the next starts at once (their leases are renewed)
    batch: int = BATCH_MAX  #: most short jobs lined up in one slot (handed over in one message); 1 turns it off
    status_interval: float = 30.0  #: seconds between status lines; 0 turns them off
    maintenance: bool = True  #: promote due jobs, reap lost leases, prune expired results


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential back-off with equal jitter: half fixed, half random, so retries spread out."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return delay / 2 + random.uniform(0, delay / 2)


class Worker:
    def __init__(self, backend: Backend, options: WorkerOptions, registry: tasks.Registry | None = None) -> None:
        if options.concurrency < 1:
            raise errors.ConfigError(f"concurrency must be at least 1, got {options.concurrency}")
        if options.mode not in ("process", "thread"):
            raise errors.ConfigError(f"mode must be 'process' or 'thread', got {options.mode!r}")
        if options.batch < 1:
            raise errors.ConfigError(f"batch must be at least 1, got {options.batch}")
        if options.lease < 0.3:
            raise errors.ConfigError(f"lease must be at least 0.3 seconds, got {options.lease}")
        self.backend = backend
        self.options = options
        self.registry = registry or tasks.default_registry(options.imports, eager=options.mode == "thread")
        if options.mode == "thread":
            from quantq.worker.child import run_warmups

            for note in run_warmups():  # thread slots run tasks in this process
                self._log_note("worker.warmup", note)
        self.hostname = socket.gethostname()
        self.id = options.name or f"{self.hostname}-{os.getpid()}-{os.urandom(2).hex()}"
        self.slots: list[Slot] = []
        self.processed = 0
        self.failed = 0
        self._inbox: collections.deque[jobs.Claim] = collections.deque()
        self._free = 0
        self._free_cond = threading.Condition()
        #: slots that have said ready once: only their room is claimed for (a child that is still
        #: importing and warming up, seconds on a busy machine, would hold its jobs' leases idle)
        self._warm: set[int] = set()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._poller = select.poll()
        self._polled: tuple[int, ...] | None = None  #: the slots' fds registered with the poller
        self._draining = threading.Event()
        self._stop_now = threading.Event()
        self._claimer: threading.Thread | None = None
        self._claimer_idle = threading.Event()
        #: set when the claimer's last hand-over is in slots, and for thread slots taken by their threads
        self._handed = threading.Event()
        #: the slots and what they hold: the supervisor keeps it except while it waits for news;
        #: the claimer takes it only when it is free, to start new jobs itself (one hop fewer)
        self._slots_lock = threading.Lock()
        self._sigints = 0
        self._last_promote = 0.0  #: monotonic time of the claimer's last promote_due
        self._outbox: queue.SimpleQueue[Outcome | None] = queue.SimpleQueue()  #: outcomes for the reporter; None stops it
        self._depth = 1  #: jobs lined up per slot: more than one only while jobs are short
        self._mean_run: float | None = None  #: moving average of job run times (seconds)
        self._task_run: dict[str, float] = {}  #: the same per task: what may share a line
        self._ended = 0  #: jobs ended in this wake-up of the supervisor, their room not yet given back
        #: room of the jobs whose outcomes the reporter is to write, given back once it has (under
        #: _free_cond): the last jobs of a worker that is becoming idle (see _collect; a thread
        #: slot that writes its own outcome gives their room back itself, _send_or_hand)
        self._room_after_write = 0
        self._reporter: threading.Thread | None = None
        #: set while the reporter waits with nothing to write: a thread slot may then write its
        #: own outcome (see _send_or_hand); _inline_writes counts those under way
        self._reporter_idle = threading.Event()
        self._inline_writes = 0
        self._inline_cond = threading.Condition()

    # ---- public ----------------------------------------------------------------------------

    def run(self) -> int:
        """Run until drained (SIGTERM, SIGINT, ``stop``) or, in burst mode, until idle."""
        self._install_signals()
        self._start_slots()
        self._register()
        event(log, "worker.started", worker=self.id, queues=",".join(self.options.queues),
              concurrency=self.options.concurrency, mode=self.options.mode, backend=redact(self.backend.url))
        self._claimer = threading.Thread(target=self._claim_loop, name="quantq-claimer", daemon=True)
        self._claimer.start()
        self._reporter = threading.Thread(target=self._report_loop, name="quantq-reporter", daemon=True)
        self._reporter.start()
        try:
            self._supervise()
        finally:
            self._shutdown()
        return 0

    def _register(self) -> None:
        """Join the worker registry, waiting out a backend that is not there yet."""
        info = WorkerInfo(id=self.id, hostname=self.hostname, pid=os.getpid(), queues=self.options.queues,
                          concurrency=self.options.concurrency, meta={"mode": self.options.mode})
        delay = 0.5
        while not self._draining.is_set():
            try:
                self.backend.register_worker(info)
                return
            except errors.QuantqError as exc:
                event(log, "worker.register_failed", level=logging.WARNING, worker=self.id, error=str(exc), retry_in=delay)
                self._draining.wait(delay)
                delay = min(delay * 2, 30.0)

    def stop(self, immediately: bool = False) -> None:
        """Drain (stop claiming, let running jobs finish within the grace period), or stop now."""
        self._draining.set()
        if immediately:
            self._stop_now.set()
        self._poke()
        with self._free_cond:
            self._free_cond.notify_all()

    # ---- signals ---------------------------------------------------------------------------

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_term(signum: int, frame: Any) -> None:
            event(log, "worker.draining", worker=self.id, grace=self.options.grace, signal=signal.Signals(signum).name)
            self.stop()

        def on_int(signum: int, frame: Any) -> None:
            self._sigints += 1
            if self._sigints >= 2:
                event(log, "worker.stopping_now", worker=self.id)
                self.stop(immediately=True)
            else:
                on_term(signum, frame)

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_int)

    def _poke(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    # ---- slots -----------------------------------------------------------------------------

    def _new_slot(self, index: int) -> Slot:
        if self.options.mode == "thread":
            return ThreadSlot(index, self.registry, around_send=self._send_or_hand, on_receive=self._handed.set)
        return ProcessSlot(index, self.options.imports, self.options.max_memory_mb)

    def _start_slots(self) -> None:
        for i in range(self.options.concurrency):
            slot = self._new_slot(i)
            slot.start()
            self.slots.append(slot)
        with self._free_cond:
            self._free = self._capacity()

    def _capacity(self, depth: int | None = None) -> int:
        """Claims this worker holds at most: lined up in its slots that are ready, plus the
        prefetch.  While jobs are lined up, more lines per slot wait in the inbox: a slot that
        ends its line gets the next at once, and a line's worth of claims is on its way meanwhile."""
        depth = self._depth if depth is None else depth
        if not self._warm:
            return 0
        return len(self._warm) * depth * (LINES_HELD if depth > 1 else 1) + self.options.prefetch

    def _note_run_time(self, task: str, seconds: float) -> None:
        """Line up more jobs per slot while they are short (round trips, not work, would
        set the pace), and one again as soon as they are not."""
        mean = seconds if self._mean_run is None else self._mean_run * 0.9 + seconds * 0.1
        self._mean_run = mean
        known = self._task_run.get(task)
        self._task_run[task] = seconds if known is None else known * 0.8 + seconds * 0.2
        depth = max(1, min(self.options.batch, int(BATCH_SLICE / max(mean, 1e-6))))
        if depth != self._depth:
            with self._free_cond:
                self._free += self._capacity(depth) - self._capacity()
                self._depth = depth
                self._free_cond.notify_all()

    def _retire(self, slot: Slot) -> jobs.Claim | None:
        """Kill a slot and start a fresh one in its place.  The jobs lined up behind its
        running one never started: they go first in line for the next slot.  Returns the
        running job's claim (its room given back), for the caller to report."""
        claims = slot.clear()
        slot.kill()
        fresh = self._new_slot(slot.index)
        fresh.start()
        self.slots[slot.index] = fresh
        self._inbox.extendleft(reversed(claims[1:]))
        if not claims:
            return None
        self._release_slot()
        return claims[0]

    def _hand_back(self, claim: jobs.Claim) -> None:
        try:
            self.backend.release(claim)
        except errors.QuantqError:
            pass  # its lease will run out and the job will run again
        self._release_slot()

    def _release_slot(self, count: int = 1) -> None:
        with self._free_cond:
            self._free += count
            if self._free >= self._claim_threshold():  # (waking the claimer for less only costs the GIL)
                self._free_cond.notify_all()
            idle = self._all_room_free()
        if idle:  # a claimer waiting as a busy worker comes back to wait as an idle one (see wait_and_claim)
            self.backend.interrupt_wait()

    def _all_room_free(self) -> bool:
        """Nothing running or lined up (the caller holds ``_free_cond``)."""
        return self._free >= self._capacity()

    def _claim_threshold(self) -> int:
        """Room that makes a claim worth its round trip: one job, or a line per slot while
        jobs are lined up (claims in batches big enough to pay for the round trip, small
        enough that their first jobs start soon and the store is not held up long: on
        Redis a 128-job claim is about 2 ms of the server's time)."""
        return 1 if self._depth == 1 else max(1, len(self._warm) * self._depth)

    # ---- claiming (claimer thread) ---------------------------------------------------------

    def _claim_loop(self) -> None:
        backoff = 0.5
        wait = False  #: the queues were found empty: the next claim first waits for work
        while not self._draining.is_set():
            with self._free_cond:
                # with jobs lined up in slots, claim in batches: once a line per slot is free
                while self._free < self._claim_threshold() and not self._draining.is_set():
                    self._free_cond.wait(1.0)
                want = self._free
                idle = self._all_room_free()
            if self._draining.is_set():
                break
            try:
                if self.options.maintenance and not getattr(self.backend, "promotes_on_claim", False):
                    self._maybe_promote()  # (a backend whose claim promotes due jobs saves the round trip)
                if wait:  # (one round trip where the backend can: the wait and the claim)
                    claims = self.backend.wait_and_claim(
                        list(self.options.queues), worker_id=self.id, hostname=self.hostname, lease=self.options.lease,
                        limit=want, timeout=min(self.options.poll_interval, PROMOTE_EVERY * 2), idle=idle,
                    )
                else:
                    claims = self.backend.claim(
                        list(self.options.queues), worker_id=self.id, hostname=self.hostname,
                        lease=self.options.lease, limit=want,
                    )
                backoff = 0.5
            except errors.QuantqError as exc:
                event(log, "worker.claim_failed", level=logging.WARNING, worker=self.id, error=str(exc), retry_in=backoff)
                self._draining.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            woken, wait = wait, False
            if claims:
                self._claimer_idle.clear()
                with self._free_cond:
                    self._free -= len(claims)
                self._handed.clear()
                self._inbox.extend(claims)
                if self._slots_lock.acquire(blocking=False):  # the supervisor is waiting: start them from here
                    try:
                        self._dispatch()
                    finally:
                        self._slots_lock.release()
                if self._inbox:  # what is left waits for a slot; the supervisor hands it over
                    self._poke()
                # First let the supervisor hand these jobs to their slots, and a thread slot
                # take them, when the queues were empty a moment ago: this thread's way into its
                # next call would hold the GIL they wait for (a thread slot woken by its socket
                # then waits for the GIL, and is woken a second time: 0.1-0.2 ms each on an idle
                # machine's cold CPUs, on the path of the job's latency).
                if len(claims) == want:
                    if woken:
                        self._handed.wait(HANDOVER_WAIT)
                    continue  # there may be more: claim again at once
                # fewer than asked: the queues are empty, so wait for the next wake-up rather
                # than spend a round trip (and the GIL) on an empty claim now
                self._handed.wait(HANDOVER_WAIT)
            else:
                self._claimer_idle.set()
                self._poke()
            if self.options.burst:
                self._draining.wait(0.05)
                continue
            wait = True

    def _maybe_promote(self) -> None:
        now = time.monotonic()
        if now - self._last_promote >= PROMOTE_EVERY:
            self._last_promote = now
            self.backend.promote_due()

    # ---- supervising (main thread) ---------------------------------------------------------

    def _supervise(self) -> None:
        with self._slots_lock:  # (let go only while waiting for news: see _wait_and_collect)
            self._supervise_locked()

    def _supervise_locked(self) -> None:
        timers = collections.defaultdict(float)
        drain_deadline: float | None = None
        while True:
            now = time.monotonic()
            if self._stop_now.is_set():
                return
            if self._draining.is_set() and drain_deadline is None:
                drain_deadline = now + self.options.grace
            busy = [s for s in self.slots if s.busy]
            if self._draining.is_set() and not busy and not self._inbox:
                return
            if drain_deadline is not None and now >= drain_deadline:
                event(log, "worker.grace_over", worker=self.id, handed_back=len(busy))
                return
            if self.options.burst and not busy and not self._inbox and self._claimer_idle.is_set():
                if not self._reaped_before_exit():
                    self._draining.set()
                continue

            self._dispatch()
            self._wait_and_collect(timeout=0.1)
            self._flush_progress()
            self._enforce_deadlines()
            self._check_lost(timers)
            self._heartbeat(timers)
            if self.options.maintenance:
                self._maintain(timers)
            self._status_line(timers)

    def _reaped_before_exit(self) -> bool:
        """A burst worker about to exit first hands back to the queue the jobs whose leases
        ran out since its last reap (their workers died while it worked), so it runs them
        too; it exits once a reap finds none."""
        if not self.options.maintenance:
            return False
        try:
            reaped = self.backend.reap_expired()
        except errors.QuantqError:
            return False
        if not reaped:
            return False
        event(log, "jobs.reaped", count=reaped, reason="lease expired")
        self._claimer_idle.clear()  # (set again by the claimer's next empty claim)
        return True

    def _dispatch(self) -> None:
        if not self._inbox:
            return  # (nothing handed over: the claimer's last claims went elsewhere, and said so)
        to_threads = False
        try:
            to_threads = self._hand_over()
        finally:
            if not to_threads:  # (a thread slot sets it itself once its thread has read them: on_receive)
                self._handed.set()  # the claimer may go on: what it handed over is in slots (or waits for one)

    def _hand_over(self) -> bool:
        """Hand the inbox's claims to open slots; returns whether any went to a thread slot."""
        while self._inbox and self._draining.is_set():
            self._hand_back(self._inbox.popleft())
        if not self._inbox:
            return False
        to_threads = False
        depth = self._depth
        open_slots = sorted((s for s in self.slots if s.ready and s.conn is not None and len(s.claims) < depth),
                            key=lambda s: len(s.claims))  # idle slots first
        for i, slot in enumerate(open_slots):
            if not self._inbox:
                break
            share = -(-len(self._inbox) // (len(open_slots) - i))  # spread the inbox evenly
            claims = self._line(slot, min(depth - len(slot.claims), share))
            if not claims:
                continue
            payloads = []
            for claim in claims:
                job = claim.job
                payloads.append(execute.job_payload(job.id, job.task, job.args, job.queue, job.attempts, job.meta, self.id))
                event(log, "job.started", job=job.id, task=job.task, queue=job.queue, attempt=job.attempts, slot=slot.index)
            if not slot.assign(claims, payloads, self._timeout_of(claims[0])):
                self._child_died(slot)
            else:
                to_threads = to_threads or isinstance(slot, ThreadSlot)
        # what is left is prefetched: it starts when a slot frees (or a new child is warm)
        return to_threads

    def _line(self, slot: Slot, most: int) -> list[jobs.Claim]:
        """Jobs from the inbox for one slot: an idle slot always gets one; more only while
        the line's expected work stays within BATCH_SLICE.  A task not seen yet counts as
        long, so a job of unknown length never waits behind others, nor holds any up."""
        estimate = self._task_run.get
        work = sum(estimate(c.job.task, BATCH_SLICE) for c in slot.claims)
        line: list[jobs.Claim] = []
        while self._inbox and len(line) < most:
            cost = estimate(self._inbox[0].job.task, BATCH_SLICE)
            if (slot.claims or line) and work + cost > BATCH_SLICE:
                break
            work += cost
            line.append(self._inbox.popleft())
        return line

    def _timeout_of(self, claim: jobs.Claim) -> float | None:
        return claim.job.timeout if claim.job.timeout is not None else self.options.job_timeout

    def _wait_and_collect(self, timeout: float) -> None:
        by_fd = {}
        for slot in self.slots:
            if slot.conn is not None:
                by_fd[slot.conn.fileno()] = slot
        fds = tuple(by_fd)
        if fds != self._polled:  # (slots change rarely: the poll set is kept, not rebuilt per wake-up)
            self._poller = select.poll()
            self._poller.register(self._wake_r, select.POLLIN)
            for fd in fds:
                self._poller.register(fd, select.POLLIN)
            self._polled = fds
        self._slots_lock.release()
        try:
            ready = self._poller.poll(max(0.0, timeout) * 1000)
        except InterruptedError:
            ready = []
        finally:
            self._slots_lock.acquire()
        slots = []
        for fd, _ in ready:
            if fd == self._wake_r:
                try:
                    while os.read(self._wake_r, 4096):
                        pass
                except (BlockingIOError, OSError):
                    pass
                continue
            slots.append(by_fd[fd])
        self._collect(slots)

    def _send_or_hand(self, slot: Slot, write: Callable[[], None], message: Callable[[], dict[str, Any]]) -> None:
        """A thread slot's message, on the slot's own thread.  When the supervisor is waiting
        for news, the slot takes the slots and hands the message over in person, instead of
        writing it to the socket and waking the supervisor to read it; and when nothing else is
        being written and it has nothing more to run, it writes the outcome to the store too,
        instead of waking the reporter.  The path of a job through an idle worker: two thread
        wake-ups fewer.  The last job of a line waits a moment for the slots (the claimer may be
        handing over)."""
        if not self._slots_lock.acquire(timeout=INLINE_WAIT if len(slot.claims) <= 1 else 0):
            write()  # the supervisor is busy: it reads the message when it next waits
            return
        mine: list[Outcome] = []
        handed, room = None, 0  #: room: what the slot gives back once it has written the outcome
        try:
            if slot.index < len(self.slots) and self.slots[slot.index] is slot and slot.conn is not None \
                    and not self._draining.is_set():  # (else starting, retired, or stopping)
                handed = message()
                mine, room = self._collect([slot], handed=handed)
                if handed.get("kind") == "progress":
                    self._poke()  # the supervisor writes progress (throttled) when it wakes
            if mine:
                with self._inline_cond:
                    self._inline_writes += 1
        finally:
            self._slots_lock.release()
        if handed is None:
            write()  # (never while holding the slots: a full socket waits for the supervisor to read)
            return
        if not mine:
            return
        try:  # (not holding the slots: the supervisor never waits on the store)
            for outcome in self._write_outcomes(mine):
                self._outbox.put(outcome)  # not written: the reporter keeps trying
        finally:
            with self._inline_cond:
                self._inline_writes -= 1
                self._inline_cond.notify_all()
            if room:
                self._release_slot(room)

    def _collect(self, slots: list[Slot], handed: dict[str, Any] | None = None) -> tuple[list[Outcome], int]:
        """Read what ``slots`` have sent and act on it (the caller holds the slots).  Outcomes
        go to the reporter.  ``handed``: a message the one slot's own thread hands over in
        person (see _send_or_hand), after what it wrote before; then the outcomes are returned
        instead, for that thread to write, when the reporter is idle and the slot has nothing
        more to run."""
        outcomes: list[tuple[Slot, Outcome | None]] = []
        self._ended = 0
        for slot in slots:
            if self.slots[slot.index] is not slot or slot.conn is None:
                continue  # retired while handling an earlier fd of this wake-up
            messages, gone = slot.receive_all()
            if handed is not None:
                messages.append(handed)
            for message in messages:
                outcome = self._on_message(slot, message)
                if outcome is not None:
                    outcomes.append((slot, outcome))
                if self.slots[slot.index] is not slot:
                    break  # the slot was retired: what else it said is moot
            else:
                if gone:
                    self._child_died(slot)
        done = [o for _, o in outcomes if o is not None]
        inline = handed is not None and done and self._reporter_idle.is_set() and not any(s.claims for s in slots)
        ended, self._ended = self._ended, 0
        later = 0  #: room given back only once ``done`` is written (by this slot's thread, or the reporter)
        if ended:  # room for the claimer: once per wake-up, not once per job
            with self._free_cond:
                # The worker is becoming idle: an idle claimer's next wait would run beside the
                # write of these outcomes, which their callers wait on.  A busy one gives it back now.
                if done and self._free + self._room_after_write + ended >= self._capacity():
                    later = ended
                    if not inline:
                        self._room_after_write += ended  # (the reporter gives it back)
            if not later:
                self._release_slot(ended)
        if handed is not None:
            if self._inbox:  # the supervisor hands the next jobs over (this thread has its outcome
                self._poke()  # to write; when jobs went to a thread slot over its socket, a line larger
                # than the socket's buffer, handed to itself, would have waited for this very thread)
        elif outcomes or self._inbox:
            self._dispatch()  # new claims or freed slots: start the next jobs before anything else
        if inline:  # (``later`` is given back once they are written: see _send_or_hand)
            return done, later
        if done:
            self._report(done)
        return [], 0

    def _on_message(self, slot: Slot, message: dict[str, Any]) -> Outcome | None:
        kind = message.get("kind")
        claim = slot.claim
        if kind == "ready":
            slot.ready = True
            if slot.index not in self._warm:  # its room, claimed for from now on
                with self._free_cond:
                    before = self._capacity()
                    self._warm.add(slot.index)
                    self._free += self._capacity() - before
                    self._free_cond.notify_all()
            for note in message.get("notes") or ():
                self._log_note("child.warmup", note, slot=slot.index, pid=slot.pid())
            return None
        if claim is None:
            return None
        if kind == "progress":
            slot.pending_progress = (float(message.get("percent", 0.0)), message.get("message"))
            return None
        if message.get("id", claim.job_id) != claim.job_id:  # outcomes come in the order jobs were handed over
            event(log, "worker.protocol_error", level=logging.ERROR, job=claim.job_id, got=str(message.get("id")))
            self._child_died(slot)
            return None
        now = time.monotonic()
        elapsed = now - slot.started
        elapsed_ms = round(elapsed * 1000, 2)
        if slot.pending_progress is not None:  # a throttled last report: the record keeps its message
            try:
                self.backend.progress(claim, *slot.pending_progress)
            except errors.QuantqError:
                pass
        slot.finish_head()
        if slot.claims:
            slot.begin(self._timeout_of(slot.claims[0]))
        self._ended += 1
        took = message.get("took")  # the run's own length, as the slot timed it
        self._note_run_time(claim.job.task, took if isinstance(took, float) and 0.0 <= took < 1e9 else elapsed)
        if kind == "done":
            self.processed += 1
            event(log, "job.completed", job=claim.job_id, task=claim.job.task, ms=elapsed_ms)
            return Outcome(claim=claim, result=message.get("result"))
        if kind == "cancelled":
            event(log, "job.cancelled", job=claim.job_id, task=claim.job.task, ms=elapsed_ms)
            return None  # the record says cancelled already
        error_data = message.get("error") or {}
        error = jobs.JobError(type=str(error_data.get("type", "Error")), message=str(error_data.get("message", "")),
                              traceback=error_data.get("traceback"))
        return self._failure(claim, error, retryable=bool(message.get("retryable", True)), elapsed_ms=elapsed_ms)

    @staticmethod
    def _log_note(name: str, note: Any, **fields: Any) -> None:
        """A warm-up's note, at its level, in the worker's log format."""
        note = note if isinstance(note, dict) else {"message": str(note)}
        level = logging.getLevelName(str(note.get("level", "info")).upper())
        event(log, name, level=level if isinstance(level, int) else logging.INFO, note=str(note.get("message", "")), **fields)

    def _failure(self, claim: jobs.Claim, error: jobs.JobError, *, retryable: bool, elapsed_ms: float) -> Outcome:
        job = claim.job
        retry_in = None
        if retryable and job.attempts < job.max_attempts:
            retry_in = backoff_delay(job.attempts, self.options.retry_backoff, self.options.retry_backoff_max)
        else:
            self.failed += 1
        event(log, "job.retrying" if retry_in is not None else "job.failed", level=logging.WARNING, job=job.id,
              task=job.task, attempt=job.attempts, error=f"{error.type}: {error.message}",
              retry_in=round(retry_in, 2) if retry_in is not None else None, ms=elapsed_ms)
        return Outcome(claim=claim, error=error, retry_in=retry_in)

    def _report(self, outcomes: list[Outcome]) -> None:
        """Hand outcomes to the reporter thread: the supervisor never waits on the store."""
        for outcome in outcomes:
            self._outbox.put(outcome)

    def _report_loop(self) -> None:
        """Write outcomes in batches (whatever piled up while the last write ran), so under
        load one round trip carries many jobs.  During an outage they are kept and retried
        every second; if the outage outlasts the leases the store refuses them, and the
        jobs run again instead."""
        pending: list[Outcome] = []
        stopping = False
        while not (stopping and not pending):
            batch: list[Outcome | None] = []
            try:
                if not pending and self._outbox.empty():
                    self._reporter_idle.set()
                batch.append(self._outbox.get(timeout=1.0 if pending else None))
                self._reporter_idle.clear()
                while True:
                    batch.append(self._outbox.get_nowait())
            except queue.Empty:
                pass
            for item in batch:
                if item is None:
                    stopping = True
                else:
                    pending.append(item)
            if pending:
                try:
                    pending = self._write_outcomes(pending)
                finally:  # (written or not: those jobs have ended, and an outage can outlast them)
                    with self._free_cond:
                        room, self._room_after_write = self._room_after_write, 0
                    if room:
                        self._release_slot(room)
                if pending and stopping:
                    event(log, "worker.outcomes_unreported", level=logging.ERROR, jobs=len(pending),
                          reason="backend unreachable at shutdown; the jobs will run again")
                    return

    def _write_outcomes(self, outcomes: list[Outcome]) -> list[Outcome]:
        """Report; return what could not be written."""
        try:
            taken = self.backend.acknowledge(outcomes)
        except errors.QuantqError as exc:
            event(log, "worker.report_failed", level=logging.ERROR, worker=self.id, jobs=len(outcomes), error=str(exc))
            return outcomes
        for outcome, ok in zip(outcomes, taken, strict=True):
            if not ok:
                event(log, "job.outcome_refused", level=logging.WARNING, job=outcome.claim.job_id,
                      reason="claim no longer held (cancelled, or lease lost)")
        return []

    def _child_died(self, slot: Slot) -> None:
        code = slot.exit_code()
        claim = self._retire(slot)
        if claim is None:
            return
        error = jobs.JobError(type="ChildDied", message=f"the process running the job died (exit code {code})")
        self._report([self._failure(claim, error, retryable=True, elapsed_ms=0.0)])

    def _flush_progress(self, force: bool = False) -> None:
        now = time.monotonic()
        for slot in self.slots:
            if slot.claim is None or slot.pending_progress is None:
                continue
            if not force and now - slot.last_progress_write < PROGRESS_EVERY:
                continue
            percent, message = slot.pending_progress
            slot.pending_progress = None
            slot.last_progress_write = now
            try:
                self.backend.progress(slot.claim, percent, message)
            except errors.StaleClaim:
                self._stop_job(slot, "its claim is no longer held")
            except errors.QuantqError as exc:
                event(log, "worker.progress_failed", level=logging.WARNING, job=slot.claim.job_id, error=str(exc))

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for slot in list(self.slots):
            claim = slot.claim
            if claim is None:
                continue
            cancel_sent_at = slot.cancel_sent_at
            if cancel_sent_at is not None and now - cancel_sent_at >= CANCEL_GRACE:
                event(log, "job.killed", job=claim.job_id, reason="cancelled")
                self._retire(slot)
            elif slot.deadline is not None and now >= slot.deadline and cancel_sent_at is None:
                timeout = slot.deadline - slot.started
                self._retire(slot)
                error = jobs.JobError(type="JobTimeout", message=f"the job ran past its timeout of {timeout:g}s and was killed")
                self._report([self._failure(claim, error, retryable=True, elapsed_ms=round(timeout * 1000, 2))])

    def _stop_job(self, slot: Slot, reason: str, claim: jobs.Claim | None = None) -> None:
        """Ask a slot to stop one of its jobs (the running one by default): it stops, or is
        skipped if it has not started; a running job that ignores it is killed after the grace."""
        claim = claim or slot.claim
        if claim is None or claim.job_id in slot.cancels:
            return
        event(log, "job.stopping", job=claim.job_id, reason=reason)
        slot.cancels[claim.job_id] = time.monotonic()
        if not slot.send({"kind": "cancel", "id": claim.job_id}):
            slot.cancels[claim.job_id] = 0.0  # nothing to wait for: kill at the next check

    def _check_lost(self, timers: dict[str, float]) -> None:
        if time.monotonic() - timers["lost"] < LOST_CHECK_EVERY:
            return
        timers["lost"] = time.monotonic()
        in_slots = [(s, c) for s in self.slots for c in s.claims if c.job_id not in s.cancels]
        waiting = list(self._inbox)
        if not in_slots and not waiting:
            return
        try:
            gone = self.backend.lost([c for _, c in in_slots] + waiting)
        except errors.QuantqError:
            return
        for claim in waiting:
            if claim.job_id in gone:  # cancelled before it started: just drop it
                try:
                    self._inbox.remove(claim)
                except ValueError:
                    continue  # dispatched meanwhile; the slot check below catches it next time
                self._release_slot()
        for slot, claim in in_slots:
            if claim.job_id in gone and claim in slot.claims:
                self._stop_job(slot, "cancelled, or its lease was lost", claim)

    def _heartbeat(self, timers: dict[str, float]) -> None:
        if time.monotonic() - timers["heartbeat"] < self.options.lease / 3:
            return
        timers["heartbeat"] = time.monotonic()
        in_slots = [(s, c) for s in self.slots for c in s.claims]
        waiting = list(self._inbox)
        try:
            if in_slots or waiting:
                renewed = self.backend.renew([c for _, c in in_slots] + waiting, self.options.lease)
                for (slot, old), new in zip(in_slots, renewed[:len(in_slots)], strict=True):
                    if new is None:
                        self._stop_job(slot, "its lease could not be renewed", old)
                    else:  # the same job and token, a later expiry
                        slot.claims = collections.deque(new if c is old else c for c in slot.claims)
            self.backend.heartbeat_worker(
                self.id, current_jobs=[s.claim.job_id for s in self.slots if s.claim is not None],
                processed=self.processed, failed=self.failed,
            )
        except errors.QuantqError as exc:
            event(log, "worker.heartbeat_failed", level=logging.WARNING, worker=self.id, error=str(exc))

    def _maintain(self, timers: dict[str, float]) -> None:
        now = time.monotonic()
        try:
            if now - timers["reap"] >= min(self.options.lease / 2, 5.0):
                timers["reap"] = now
                reaped = self.backend.reap_expired()
                if reaped:
                    event(log, "jobs.reaped", count=reaped, reason="lease expired")
            if now - timers["prune"] >= PRUNE_EVERY:
                timers["prune"] = now
                self.backend.prune()
                self.backend.reap_workers(max_silence=max(60.0, self.options.lease * 3))
        except errors.QuantqError as exc:
            event(log, "worker.maintenance_failed", level=logging.WARNING, error=str(exc))

    def _status_line(self, timers: dict[str, float]) -> None:
        interval = self.options.status_interval
        if not interval or time.monotonic() - timers["status"] < interval:
            return
        timers["status"] = time.monotonic()
        try:
            stats = {s.name: s for s in self.backend.queue_stats()}
        except errors.QuantqError:
            return
        busy_by_queue = collections.Counter(s.claim.job.queue for s in self.slots if s.claim is not None)
        parts = []
        for name in self.options.queues:
            waiting = stats[name].counts.get("queued", 0) if name in stats else 0
            parts.append(f"{name}: {busy_by_queue.get(name, 0)}/{self.options.concurrency} busy, {waiting} waiting")
        log.info("status %s", " | ".join(parts), extra={"fields": {"event": "worker.status"}})

    # ---- shutdown --------------------------------------------------------------------------

    def _shutdown(self) -> None:
        self._draining.set()
        with self._free_cond:
            self._free_cond.notify_all()
        if self._claimer is not None:
            self._claimer.join(timeout=self.options.poll_interval + 2)
        with self._slots_lock:  # (a claimer still stuck in a call would hand its claims back)
            self._flush_progress(force=True)
            with self._inline_cond:  # outcomes that thread slots are writing themselves
                self._inline_cond.wait_for(lambda: self._inline_writes == 0, timeout=max(5.0, self.options.lease))
            if self._reporter is not None:
                self._outbox.put(None)
                self._reporter.join(timeout=max(5.0, self.options.lease))
            leftovers = list(self._inbox)
            self._inbox.clear()
            for slot in self.slots:
                if slot.claims:
                    leftovers.extend(slot.clear())
                    slot.kill()
                else:
                    slot.stop(timeout=1.0)
        handed_back = 0
        for claim in leftovers:
            try:
                self.backend.release(claim)
                handed_back += 1
            except errors.QuantqError:
                pass  # its lease will run out and the job will run again
        try:
            self.backend.unregister_worker(self.id)
        except errors.QuantqError:
            pass
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        event(log, "worker.stopped", worker=self.id, processed=self.processed, failed=self.failed, handed_back=handed_back)

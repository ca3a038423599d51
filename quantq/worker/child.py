"""Entry point of a pool child process: ``python -m quantq.worker.child --fd N [--import M ...]``.

Started with subprocess, not multiprocessing, so nothing is pickled on the way in:
the parent passes one end of a socket pair, and both sides speak length-framed JSON.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import queue
import select
import signal
import sys
from collections.abc import Callable
from importlib import metadata
from multiprocessing.connection import Connection
from typing import Any

from quantq import tasks
from quantq.envelope import compact
from quantq.worker import execute


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the supervisor dies, so no orphan keeps running a job."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="quantq-child")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--import", dest="imports", action="append", default=[])
    parser.add_argument("--max-memory-mb", type=int, default=0)
    args = parser.parse_args(argv)
    _die_with_parent()
    # The supervisor decides when jobs stop: Ctrl-C in a terminal must drain, not kill jobs.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.max_memory_mb:
        import resource

        limit = args.max_memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    conn = Connection(args.fd)
    registry = tasks.default_registry(args.imports, eager=True)
    serve_connection(conn, registry, run_warmups())


def run_warmups() -> list[dict[str, str]]:
    """Plugins' start-up work (``quantq.warmup`` entry points), so no job pays a cold start:
    the finance layer compiles its fill kernel and starts its sandbox runner here.  Returns
    the notes for the worker's log, ``{"level", "message"}``: what a warm-up returned (a line,
    or a ``(level, line)`` pair, e.g. the sandbox's self-check) and why one failed.  The
    supervisor logs them in the worker's own format (text or JSON)."""
    if os.environ.get("QUANTQ_WARMUP", "1") == "0":
        return []
    notes = []
    for ep in metadata.entry_points(group="quantq.warmup"):
        try:
            said = ep.load()()
        except Exception as exc:  # a plugin that cannot warm up still serves; its jobs say why
            notes.append({"level": "error", "message": f"warm-up {ep.name!r} failed: {type(exc).__name__}: {exc}"})
            continue
        if isinstance(said, str) and said:
            notes.append({"level": "info", "message": said})
        elif isinstance(said, tuple) and len(said) == 2 and all(isinstance(x, str) for x in said):
            notes.append({"level": said[0], "message": said[1]})
    return notes


def serve_connection(conn: Connection, registry: tasks.Registry, notes: list[dict[str, str]] | None = None,
                     around_send: Callable[[Callable[[], None], Callable[[], dict[str, Any]]], None] | None = None,
                     on_receive: Callable[[], None] | None = None,
                     inbox: queue.SimpleQueue[dict[str, Any] | None] | None = None,
                     outbox: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Serve jobs over ``conn``.  Thread slots: ``inbox`` is where the messages come from
    instead of ``conn``, as they are (None: the end), and ``outbox`` where this side's go, as
    they are; ``around_send`` is given each of those as the post to make and as the message
    itself, and does one or the other (a thread slot's worker takes the message in person when
    it can); ``on_receive`` is told of each message read."""
    if inbox is None:
        def recv() -> Any:
            data = conn.recv_bytes()
            if on_receive is not None:
                on_receive()
            return json.loads(data)

        # a poll set made once: Connection.poll builds a selector per call (~10 us, once per job here)
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)

        def waiting() -> bool:
            return bool(poller.poll(0))
    else:
        def recv() -> Any:
            message = inbox.get()
            if message is None:
                raise EOFError
            if on_receive is not None:
                on_receive()
            return message

        def waiting() -> bool:
            return not inbox.empty()

    def frame(message: dict[str, Any], encoded: str | None) -> bytes:
        if encoded is None:
            return compact(message).encode()
        # the result as already encoded (and checked) by execute.run, spliced in whole
        head = compact({k: v for k, v in message.items() if k != "result"})
        return f'{head[:-1]},"result":{encoded}}}'.encode()

    def send(message: dict[str, Any]) -> None:
        encoded = message.pop("result_json", None)
        if outbox is None:
            conn.send_bytes(frame(message, encoded))
        elif around_send is None:  # a thread slot's message goes as it is: no JSON either way
            outbox(message)
        else:
            around_send(lambda: outbox(message), lambda: message)

    try:
        execute.serve(recv, waiting, send, registry, notes)
    except (BrokenPipeError, ConnectionResetError, OSError):
        pass  # the supervisor went away
    finally:
        conn.close()


if __name__ == "__main__":
    main()
    os._exit(0)

"""The sandbox runner: a clean process that imports the libraries once and forks one child per run.

Started by :class:`quantq.finance.strategy.sandbox.Sandbox` with an empty environment,
no inherited descriptors and ``-I``; it speaks ``wire`` messages on stdin/stdout. A child
confines itself (``confine``), builds the frame, runs the user's function, checks and
encodes the result, writes it to a pipe and exits; it is never reused. The runner kills
it on wall-clock timeout and reports how it ended.
"""

from __future__ import annotations

import io
import os
import resource
import select
import signal
import socket
import sys
import time
import traceback
from typing import IO, Any

import numpy as np

from quantq.finance.strategy import confine, guards, wire

# Result bytes the runner accepts from a child before killing it (JSON cap plus target arrays).
_READ_CAP = 64 * 1024 * 1024
_USER_FILE = "<strategy>"


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"type": kind, "message": message[:2000]}}


def _user_trace(exc: BaseException) -> str:
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == _USER_FILE]
    where = f" (strategy line {lines[-1]})" if lines else ""
    try:
        text = str(exc)
    except Exception:  # a hostile __str__
        text = ""
    return f"{type(exc).__name__}: {text}"[:1500] + where


class _Prepared:
    """Confinement built before the request arrives (the costly parts), applied on request."""

    def __init__(self) -> None:
        self.landlock = confine.prepare_landlock(confine.readable_roots())
        self.seccomp = confine.build_seccomp()


_prepared: _Prepared | None = None
_namespaces: dict[str, bool] = {}  # entered by the spare before its request arrived


def _confine(layers: dict[str, Any], limits: dict[str, Any]) -> dict[str, Any]:
    prep = _prepared or _Prepared()
    active: dict[str, Any] = {"process_layout": True}
    active["limits"] = confine.apply_limits(
        memory_bytes=int(limits["memory_mb"]) * 1024 * 1024,
        cpu_seconds=int(limits["cpu_seconds"]),
        open_files=int(limits["open_files"]),
        file_bytes=int(limits.get("max_file_bytes", 0)),
    )
    active["namespaces"] = dict(_namespaces) if layers.get("namespaces") else {}
    if layers.get("landlock"):
        active["landlock"] = confine.restrict_landlock(prep.landlock)
    else:
        confine.discard_landlock(prep.landlock)
        active["landlock"] = 0
    active["seccomp"] = False
    if layers.get("seccomp") and prep.seccomp is not None:
        prep.seccomp.load()
        active["seccomp"] = True
    return active


def _missing_layers(active: dict[str, Any]) -> list[str]:
    need = {"process_layout": active["process_layout"], "limits": active["limits"], "landlock": active["landlock"] > 0, "seccomp": active["seccomp"]}
    return [name for name, ok in need.items() if not ok]


def _isolate(keep: tuple[int, ...]) -> None:
    """Own process group, stdio on /dev/null, every other descriptor closed."""
    os.setsid()  # the runner kills the whole group
    confine.die_with_parent()
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    last = 2
    for fd in sorted(keep):
        os.closerange(last + 1, fd)
        last = fd
    os.closerange(last + 1, 65536)


def _relay(child: int) -> None:
    """Outside the PID namespace: wait for its PID 1 and end the same way (the runner reads it)."""
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 70)


def _spare_main(req_fd: int, out_fd: int, namespaces: bool) -> None:
    """A pre-forked child: wait for one request, run it, exit. Never reused.

    With ``namespaces`` it first enters new user, network, IPC and PID namespaces; the run
    itself happens in a second child, PID 1 of the new PID namespace, which sees no other
    process. This process only relays how that child ended."""
    global _prepared, _namespaces
    _isolate((req_fd, out_fd))
    if namespaces:
        _namespaces = confine.apply_namespaces(pid=True)
        if _namespaces["pid"]:
            child = os.fork()
            if child:
                os.close(req_fd)
                os.close(out_fd)
                _relay(child)
            confine.die_with_parent()  # the relay's death (killed with the group) ends the run too
    _prepared = _Prepared()
    # Run the frame and result code once while idle: the copy-on-write page faults of this fresh
    # process (~1,500, several ms) are paid before the request arrives, not after.
    _warm()
    with os.fdopen(req_fd, "rb", buffering=1 << 20) as stream:
        try:
            req, arrays = wire.read_message(stream)
        except (EOFError, wire.WireError):
            return  # the runner is shutting down or replaced this spare
    _child_main(req, arrays, out_fd)


def _child_main(req: dict[str, Any], arrays: dict[str, np.ndarray], out_fd: int) -> None:
    """Everything a run does in its child; returns when the result is written (the caller exits)."""
    try:
        if req["op"] == "probe":
            active = _confine(req["layers"], req["limits"])
            header = {"ok": True, "active": active, "evidence": _evidence()}
            wire.write_all(out_fd, wire.encode(header))
            return
        from quantq.finance.strategy.frame import build_frame
        from quantq.finance.strategy.results import encode_result

        frame = build_frame(arrays, req["symbols"])
        code = compile(req["source"], _USER_FILE, "exec")
        active = _confine(req["layers"], req["limits"])
        if req["layers"].get("strict") and _missing_layers(active):
            raise _Refused(f"strict sandbox: layers not active: {', '.join(_missing_layers(active))}")
        sys.setrecursionlimit(int(req["limits"].get("recursion", 2000)))
        table = guards.restricted_builtins() if req["layers"].get("python_guards", True) else guards.open_builtins()
        namespace: dict[str, Any] = {"__builtins__": table, "__name__": "strategy"}
        exec(code, namespace)
        fn = namespace.get(req["entry"])
        if not callable(fn):
            raise _Refused(f"the strategy defines no function named {req['entry']!r}")
        value = fn(frame)
        header, out_arrays = encode_result(value, req["mode"], len(frame))
        own = resource.getrusage(resource.RUSAGE_SELF)
        header["usage"] = {"cpu_seconds": round(own.ru_utime + own.ru_stime, 6), "max_rss_kb": own.ru_maxrss, "pid": os.getpid()}
        wire.write_all(out_fd, wire.encode({"ok": True, **header}, out_arrays))
    except _Refused as exc:
        wire.write_all(out_fd, wire.encode(_error("unavailable", str(exc))))
    except MemoryError:
        wire.write_all(out_fd, wire.encode(_error("memory_limit", "the strategy exceeded its memory limit")))
    except RecursionError as exc:
        wire.write_all(out_fd, wire.encode(_error("recursion_limit", _user_trace(exc))))
    except SystemExit:
        wire.write_all(out_fd, wire.encode(_error("strategy_error", "the strategy tried to exit the interpreter")))
    except BaseException as exc:  # noqa: BLE001 - every failure of user code is reported, none escapes
        from quantq.finance.strategy.results import StrategyResultError

        kind = "invalid_result" if isinstance(exc, StrategyResultError) else "strategy_error"
        try:
            msg = _user_trace(exc)
        except BaseException:  # noqa: BLE001
            msg = type(exc).__name__
        wire.write_all(out_fd, wire.encode(_error(kind, msg)))


class _Refused(Exception):
    pass


def _evidence() -> dict[str, str]:
    """Try what confinement must stop; record what happened (the self-check's proof)."""
    import socket

    def attempt(fn: Any) -> str:
        try:
            fn()
        except OSError as exc:
            return f"denied ({exc.strerror or exc})"
        except Exception as exc:  # noqa: BLE001
            return f"denied ({type(exc).__name__})"
        return "ALLOWED"

    def fork() -> None:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)

    return {
        "read /etc/passwd": attempt(lambda: open("/etc/passwd").read()),
        "read /proc/self/environ": attempt(lambda: open("/proc/self/environ").read()),
        "write /tmp": attempt(lambda: open("/tmp/quantq-sandbox-probe", "w").write("x")),
        "open socket": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()),
        "fork": attempt(fork),
        "signal parent": attempt(lambda: os.kill(os.getppid(), 0)),
    }


class _Spare:
    """A forked child waiting for its request (fork cost paid before the request arrives)."""

    def __init__(self, namespaces: bool = True) -> None:
        self.namespaces = namespaces
        req_r, self.req_w = os.pipe()
        self.res_r, res_w = os.pipe()
        wire.widen_pipe(self.req_w)
        wire.widen_pipe(self.res_r)
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - runs in the child
            code = 0
            try:
                os.close(self.req_w)
                os.close(self.res_r)
                _spare_main(req_r, res_w, namespaces)
            except BaseException:  # noqa: BLE001
                code = 70
            os._exit(code)
        os.close(req_r)
        os.close(res_w)

    def discard(self) -> None:
        for fd in (self.req_w, self.res_r):
            try:
                os.close(fd)
            except OSError:
                pass
        _kill_group(self.pid)
        os.waitpid(self.pid, 0)


def _kill_group(pid: int) -> None:
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
        except (ProcessLookupError, PermissionError):
            pass


def _hand_over(ctl: socket.socket, spare: _Spare) -> None:
    """Give the worker the write end of the spare's request pipe and drop this process's copy:
    the request (source and data) goes from the worker straight to the run, never through here."""
    socket.send_fds(ctl, [wire.READY], [spare.req_w])
    os.close(spare.req_w)


def _collect(spare: _Spare, deadline: float) -> tuple[bytes, bool, bool]:
    """Read the child's output until EOF or the deadline; (data, timed_out, overflow)."""
    chunks: list[bytes] = []
    size = 0
    timed_out = overflow = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([spare.res_r], [], [], left)
        if not ready:
            continue
        chunk = os.read(spare.res_r, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > _READ_CAP:
            overflow = True
            break
    os.close(spare.res_r)
    return b"".join(chunks), timed_out, overflow


def _reap(pid: int, deadline: float) -> tuple[int, bool, float]:
    """Wait for the child to end (killing its group at the deadline);
    (status, killed_by_us, CPU seconds of the child and the children it reaped)."""
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, False, usage.ru_utime + usage.ru_stime
        if time.monotonic() >= deadline:
            _kill_group(pid)
            _, status, usage = os.wait4(pid, 0)
            return status, True, usage.ru_utime + usage.ru_stime
        time.sleep(0.002)


def _classify(status: int, limits: dict[str, Any], cpu: float = 0.0) -> dict[str, Any]:
    """Turn how a child ended without a readable result into an error."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        # PID 1 of a namespace ignores SIGXCPU, so the hard limit's SIGKILL ends it: tell by CPU used
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= float(limits["cpu_seconds"]) - 0.05):
            return _error("cpu_limit", f"the strategy used more than {limits['cpu_seconds']} s of CPU time")
        if sig == signal.SIGKILL:
            return _error("killed", "the strategy process was killed (memory pressure or an outside signal)")
        return _error("crashed", f"the strategy process died from signal {signal.Signals(sig).name}")
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    return _error("strategy_error", f"the strategy process exited (code {code}) without a result")


def run_request(spare: _Spare, req: dict[str, Any], ctl: socket.socket) -> tuple[dict[str, Any], dict[str, np.ndarray], bool]:
    """Let the worker send its request to the spare child and supervise the run;
    (header, arrays, still_to_reap). ``req`` is the control message: op, limits and layers."""
    limits = req["limits"]
    started = time.monotonic()
    deadline = started + float(limits["wall_seconds"])
    header: dict[str, Any]
    arrays: dict[str, np.ndarray] = {}
    _hand_over(ctl, spare)
    data, timed_out, overflow = _collect(spare, deadline)
    if timed_out or overflow:
        _kill_group(spare.pid)
        os.waitpid(spare.pid, 0)
        if timed_out:
            header = _error("timeout", f"the strategy ran longer than {limits['wall_seconds']} s (wall clock) and was killed")
        else:
            header = _error("result_too_large", f"the strategy's output exceeded {_READ_CAP} bytes")
        return _usage(header, started), arrays, False
    if data:
        try:
            header, arrays = wire.decode(memoryview(data)[8:])
            if header.get("ok") is not None:
                return _usage(header, started), arrays, True  # reaped after the reply is sent
        except (wire.WireError, ValueError) as exc:
            _kill_group(spare.pid)
            os.waitpid(spare.pid, 0)
            return _usage(_error("invalid_result", f"unreadable output from the strategy process: {exc}"), started), {}, False
    status, killed, cpu = _reap(spare.pid, deadline)
    header = _error("timeout", f"the strategy ran longer than {limits['wall_seconds']} s (wall clock) and was killed") if killed else _classify(status, limits, cpu)
    return _usage(header, started), {}, False


def _usage(header: dict[str, Any], started: float) -> dict[str, Any]:
    header.setdefault("usage", {})["wall_seconds"] = round(time.monotonic() - started, 6)
    return header


# Spares kept ready. Entering namespaces and preparing Landlock and seccomp take a spare tens of
# ms; with two, the next one gets ready while the current run (and the one before) executes, so
# back-to-back runs do not wait for it.
SPARES = 2


def serve(stdin: IO[bytes], out_fd: int) -> None:
    """Answer the worker's messages on ``stdin``/``out_fd`` (both ends of one UNIX socket)."""
    import gc

    ctl = socket.socket(fileno=out_fd)  # replies, and the spares' request pipes handed to the worker
    gc.freeze()  # keep the imported heap out of the collector: fewer copy-on-write pages per child
    spares = [_Spare() for _ in range(SPARES)]
    while True:
        try:
            used = _serve_one(stdin, ctl, spares)
        except EOFError:
            for spare in spares:
                spare.discard()
            return
        if used is not None:
            # Forked only now: the request and the result of the run are locals of _serve_one,
            # gone with it, so nothing of one user's run is alive in the process the next run
            # is forked from (tested by test_a_run_sees_nothing_of_the_previous_run).
            while len(spares) < SPARES:
                spares.append(_Spare(used.namespaces))
            if used.pid:  # reaped after the replacements are forked: their set-up overlaps the wait
                os.waitpid(used.pid, 0)


def _serve_one(stdin: IO[bytes], ctl: socket.socket, spares: list[_Spare]) -> _Spare | None:
    """Read one request and answer it with the first of ``spares`` (taken out of the list);
    returns that spare, killed but not yet reaped if ``pid`` is set (None if none was used)."""
    try:
        frame = wire.read_frame(stdin)
        req, _ = wire.decode(memoryview(frame)[8:], arrays=False)
    except wire.WireError as exc:
        wire.write_all(ctl.fileno(), wire.encode(_error("protocol", str(exc))))
        return None
    op = req.get("op")
    pending = False
    out: dict[str, np.ndarray]
    spare: _Spare | None = None
    if op == "ping":
        header, out = {"ok": True, "pid": os.getpid(), "env": sorted(os.environ), "fds": sorted(int(f) for f in os.listdir("/proc/self/fd"))}, {}
    elif op in ("run", "probe"):
        want = bool(req.get("layers", {}).get("namespaces"))
        if any(s.namespaces != want for s in spares):  # namespaces are entered before the request: swap
            for s in spares:
                s.discard()
            spares.clear()
        spare = spares.pop(0) if spares else _Spare(want)
        header, out, pending = run_request(spare, req, ctl)
    else:
        header, out = _error("protocol", f"unknown op {op!r}"), {}
    wire.write_all(ctl.fileno(), wire.encode(header, out))
    if spare is None:
        return None
    if pending:  # the child wrote its result and is exiting: make sure; serve() reaps it
        _kill_group(spare.pid)
    else:
        spare.pid = 0  # already reaped by run_request
    return spare


def _warm() -> None:
    """Exercise the frame, helpers and result paths once, so lazy imports and caches live in
    the runner and every child inherits them instead of paying for them."""
    from quantq.finance.strategy import helpers
    from quantq.finance.strategy.frame import build_frame
    from quantq.finance.strategy.results import encode_result

    n = 30
    arrays: dict[str, np.ndarray] = {
        "ticker": np.repeat(np.arange(2, dtype=np.int32), n),
        "date": np.tile(np.arange(n, dtype=np.int64) * 86_400 * 10**9, 2),
        **{k: np.linspace(10.0, 20.0, 2 * n) for k in ("open", "high", "low", "close", "volume")},
    }
    df = build_frame(arrays, ["A", "B"])
    rows = [{"ticker": r["ticker"], "date": str(r["date"]), "signal": bool(r["close"] > 0), "x": r["gap_pct"]} for _, r in df.head(3).iterrows()]
    rows += [{"ticker": t, "date": str(g["date"].iloc[-1]), "signal": True} for t, g in df.groupby("ticker")]
    encode_result(rows, "backtest", len(df))
    encode_result(helpers.per_ticker(df, lambda g: helpers.sma(g["close"], 5)), "backtest", len(df))
    wire.encode({"ok": True}, {"x": np.zeros(2)})


def main() -> None:
    confine.die_with_parent()
    # Import what strategies use once, so that every forked child starts warm.
    import pandas  # noqa: F401
    import talib  # noqa: F401

    import quantq.finance.strategy.frame  # noqa: F401
    import quantq.finance.strategy.helpers  # noqa: F401
    import quantq.finance.strategy.results  # noqa: F401

    _warm()

    out_fd = os.dup(1)
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 1)  # stray prints must not corrupt the protocol stream
    os.dup2(devnull, 2)
    os.close(devnull)
    # unbuffered: a buffered reader would keep the tail of the last request in its buffer
    serve(io.FileIO(0, "rb", closefd=False), out_fd)


if __name__ == "__main__":
    main()

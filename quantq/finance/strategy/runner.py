"""The sandbox runner: a clean process that imports the libraries once and forks one child per run.

Started by :class:`quantq.finance.strategy.sandbox.Sandbox` with an empty environment,
no inherited descriptors and ``-I``; it speaks ``wire`` messages on stdin/stdout. A child
confines itself (``confine``), builds the frame, runs the user's function, checks and
encodes the result, writes it to a pipe and exits; it is never reused. The runner kills
it on wall-clock timeout and reports how it ended.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
import traceback
from typing import Any, BinaryIO

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


def _confine(layers: dict[str, Any], limits: dict[str, Any]) -> dict[str, Any]:
    active: dict[str, Any] = {"process_layout": True}
    active["limits"] = confine.apply_limits(
        memory_bytes=int(limits["memory_mb"]) * 1024 * 1024,
        cpu_seconds=int(limits["cpu_seconds"]),
        open_files=int(limits["open_files"]),
        file_bytes=int(limits.get("max_file_bytes", 0)),
    )
    active["namespaces"] = confine.apply_namespaces() if layers.get("namespaces") else {}
    active["landlock"] = confine.apply_landlock(confine.readable_roots()) if layers.get("landlock") else 0
    active["seccomp"] = confine.apply_seccomp() if layers.get("seccomp") else False
    return active


def _missing_layers(active: dict[str, Any]) -> list[str]:
    need = {"process_layout": active["process_layout"], "limits": active["limits"], "landlock": active["landlock"] > 0, "seccomp": active["seccomp"]}
    return [name for name, ok in need.items() if not ok]


def _child_main(req: dict[str, Any], arrays: dict[str, np.ndarray], out_fd: int) -> None:
    """Everything the child does; never returns (the caller exits)."""
    os.setsid()  # own process group: the runner kills the whole group
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, out_fd)
    os.closerange(out_fd + 1, 65536)
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


def _collect(pid: int, rfd: int, wall: float) -> tuple[bytes, int, bool, bool, Any]:
    """Read the child's output until EOF or the deadline; kill on timeout or overflow."""
    deadline = time.monotonic() + wall
    chunks: list[bytes] = []
    size = 0
    timed_out = overflow = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([rfd], [], [], left)
        if not ready:
            continue
        chunk = os.read(rfd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > _READ_CAP:
            overflow = True
            break
    if timed_out or overflow:
        for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
            try:
                kill()
            except ProcessLookupError:
                pass
    os.close(rfd)
    _, status, usage = os.wait4(pid, 0)
    try:
        os.killpg(pid, signal.SIGKILL)  # threads or stragglers of the group, if any survived
    except (ProcessLookupError, PermissionError):
        pass
    return b"".join(chunks), status, timed_out, overflow, usage


def _outcome(data: bytes, status: int, timed_out: bool, overflow: bool, req: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    limits = req["limits"]
    if timed_out:
        return _error("timeout", f"the strategy ran longer than {limits['wall_seconds']} s (wall clock) and was killed"), {}
    if overflow:
        return _error("result_too_large", f"the strategy's output exceeded {_READ_CAP} bytes"), {}
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and not data):
            if sig == signal.SIGXCPU:
                return _error("cpu_limit", f"the strategy used more than {limits['cpu_seconds']} s of CPU time"), {}
            return _error("killed", "the strategy process was killed (memory pressure or an outside signal)"), {}
        return _error("crashed", f"the strategy process died from signal {signal.Signals(sig).name}"), {}
    if not data:
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        return _error("strategy_error", f"the strategy process exited (code {code}) without a result"), {}
    try:
        header, arrays = wire.decode(data[8:])
    except (wire.WireError, ValueError) as exc:
        return _error("invalid_result", f"unreadable output from the strategy process: {exc}"), {}
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) not in (0,) and header.get("ok"):
        return _error("strategy_error", f"the strategy process exited with code {os.WEXITSTATUS(status)}"), {}
    return header, arrays


def run_request(req: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Fork a child for one request, supervise it, return (header, arrays) for the client."""
    rfd, wfd = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            os.close(rfd)
            _child_main(req, arrays, wfd)
        except BaseException:  # noqa: BLE001
            code = 70
        os._exit(code)
    os.close(wfd)
    data, status, timed_out, overflow, usage = _collect(pid, rfd, float(req["limits"]["wall_seconds"]))
    header, out = _outcome(data, status, timed_out, overflow, req)
    header["usage"] = {
        "wall_seconds": round(time.monotonic() - started, 6),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 6),
        "max_rss_kb": usage.ru_maxrss,
    }
    return header, out


def serve(stdin: BinaryIO, out_fd: int) -> None:
    while True:
        try:
            req, arrays = wire.read_message(stdin)
        except EOFError:
            return
        except wire.WireError as exc:
            wire.write_all(out_fd, wire.encode(_error("protocol", str(exc))))
            continue
        op = req.get("op")
        if op == "ping":
            header, out = {"ok": True, "pid": os.getpid(), "env": sorted(os.environ), "fds": sorted(int(f) for f in os.listdir("/proc/self/fd"))}, {}
        elif op in ("run", "probe"):
            header, out = run_request(req, arrays)
        else:
            header, out = _error("protocol", f"unknown op {op!r}"), {}
        wire.write_all(out_fd, wire.encode(header, out))


def main() -> None:
    confine.die_with_parent()
    # Import what strategies use once, so that every forked child starts warm.
    import pandas  # noqa: F401
    import talib  # noqa: F401

    import quantq.finance.strategy.frame  # noqa: F401
    import quantq.finance.strategy.helpers  # noqa: F401
    import quantq.finance.strategy.results  # noqa: F401

    out_fd = os.dup(1)
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 1)  # stray prints must not corrupt the protocol stream
    os.dup2(devnull, 2)
    os.close(devnull)
    serve(sys.stdin.buffer, out_fd)


if __name__ == "__main__":
    main()

"""Run user strategies in the sandbox runner (a separate, clean, confined process tree).

The worker never runs user code in its own process: :class:`Sandbox` starts the runner
(``runner.py``) with an empty environment and no inherited descriptors, sends it bars
and source as a ``wire`` message, and gets back a checked result or a typed error.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from quantq.finance.backtest.panel import Panel
from quantq.finance.strategy import wire

_ROOT = str(Path(__file__).resolve().parents[3])  # the directory that holds the quantq package
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from quantq.finance.strategy.runner import main; main()"
# The runner's whole environment: no secrets, no broker or database settings, one BLAS thread.
CLEAN_ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/nonexistent",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}
REQUIRED_LAYERS = ("process_layout", "limits", "landlock", "seccomp")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SandboxConfig:
    """Limits and layers of one strategy run."""

    memory_mb: int = 1024  # address space on top of what the runner has mapped
    cpu_seconds: int = 30  # RLIMIT_CPU: SIGXCPU at this many CPU seconds
    wall_seconds: float = 60.0  # the runner SIGKILLs the child's process group after this
    open_files: int = 32  # RLIMIT_NOFILE
    max_file_bytes: int = 0  # RLIMIT_FSIZE: no regular file may grow (pipes are not files)
    recursion: int = 2000  # Python recursion limit inside the child
    namespaces: bool = True  # user, network and IPC namespaces where the host allows them
    landlock: bool = True  # read-only interpreter and libraries, nothing else; no TCP; no outside signals
    seccomp: bool = True  # deny sockets, exec, new processes, ptrace, io_uring, keyrings, shm ...
    python_guards: bool = True  # restricted builtins and guarded import (a courtesy layer)
    strict: bool = False  # refuse to run unless process layout, limits, Landlock and seccomp are active

    def __post_init__(self) -> None:
        if self.max_file_bytes < 0:
            raise ValueError("SandboxConfig.max_file_bytes must be >= 0")
        for name in ("memory_mb", "cpu_seconds", "open_files", "recursion"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"SandboxConfig.{name} must be positive")
        if not self.wall_seconds > 0:
            raise ValueError("SandboxConfig.wall_seconds must be positive")

    def request_fields(self) -> dict[str, Any]:
        return {
            "limits": {k: getattr(self, k) for k in ("memory_mb", "cpu_seconds", "wall_seconds", "open_files", "max_file_bytes", "recursion")},
            "layers": {k: getattr(self, k) for k in ("namespaces", "landlock", "seccomp", "python_guards", "strict")},
        }


class SandboxError(Exception):
    """A strategy run that ended without a result; ``kind`` says how (seed 001's error text is ``str()``)."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A strategy's checked result: ``instances``/``scores`` rows or a ``targets`` array."""

    kind: str  # "instances" | "targets" | "scores"
    rows: list[dict[str, Any]] | None
    targets: np.ndarray | None
    usage: dict[str, Any]


class Sandbox:
    """A handle on one runner process; thread-safe, one run at a time, restarted if it dies."""

    def __init__(self, python: str = sys.executable) -> None:
        self._python = python
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._reader: Any = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._drop_socket()
            mine, theirs = socket.socketpair()  # one UNIX socket: messages, and request pipes passed over it
            try:
                self._proc = subprocess.Popen(
                    [self._python, "-I", "-c", _BOOT, _ROOT],
                    stdin=theirs.fileno(),
                    stdout=theirs.fileno(),
                    stderr=subprocess.DEVNULL,
                    env=CLEAN_ENV,
                    cwd="/",
                    close_fds=True,
                    start_new_session=True,
                )
            finally:
                theirs.close()
            self._sock = mine
            self._reader = mine.makefile("rb", buffering=0)
        return self._proc

    def _drop_socket(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _request_pipe(self) -> int:
        """The spare run's request pipe, which the runner sends with ``wire.READY``."""
        assert self._sock is not None
        msg, fds, _, _ = socket.recv_fds(self._sock, len(wire.READY), 1, socket.MSG_CMSG_CLOEXEC)
        while msg and len(msg) < len(wire.READY) and wire.READY.startswith(msg):
            more = self._sock.recv(len(wire.READY) - len(msg))
            if not more:
                break
            msg += more
        if msg != wire.READY or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise wire.WireError(f"the runner did not hand over a request pipe (got {msg[:16]!r})")
        return fds[0]

    def _call(self, header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        with self._lock:
            self._start()
            assert self._sock is not None
            try:
                if header.get("op") in ("run", "probe"):
                    # the runner gets only what it supervises with; the request goes to the run directly
                    control = {k: header[k] for k in ("op", "limits", "layers")}
                    self._sock.sendall(wire.encode(control))
                    fd = self._request_pipe()
                    try:
                        for part in wire.encode_parts(header, arrays):
                            wire.write_all(fd, part)
                    except BrokenPipeError:
                        pass  # the run ended (killed, crashed) before it read it all: the reply says how
                    finally:
                        os.close(fd)
                else:
                    self._sock.sendall(wire.encode(header, arrays))
                return wire.read_message(self._reader)
            except (OSError, EOFError, wire.WireError) as exc:
                self._kill()
                raise SandboxError("unavailable", f"the sandbox runner failed: {exc}") from None

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None
        self._drop_socket()

    def close(self) -> None:
        with self._lock:
            if self._proc is not None:
                if self._sock is not None:
                    self._sock.shutdown(socket.SHUT_WR)  # EOF: the runner discards its spares and exits
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
                self._proc = None
            self._drop_socket()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def ping(self) -> dict[str, Any]:
        """Start the runner if needed; its pid, environment names and open descriptors."""
        return self._call({"op": "ping"})[0]

    def self_check(self, config: SandboxConfig | None = None) -> dict[str, Any]:
        """Confine a probe child as a run would be, try forbidden things, report each layer."""
        header, _ = self._call({"op": "probe", **(config or SandboxConfig()).request_fields()})
        if not header.get("ok"):
            raise SandboxError(header["error"]["type"], header["error"]["message"])
        active, evidence = header["active"], header["evidence"]
        report = {
            "process_layout": bool(active["process_layout"]),
            "limits": bool(active["limits"]),
            "namespaces": active["namespaces"],
            "landlock_abi": active["landlock"],
            "landlock": active["landlock"] > 0 and evidence["read /etc/passwd"].startswith("denied"),
            "seccomp": bool(active["seccomp"]) and evidence["open socket"].startswith("denied") and evidence["fork"].startswith("denied"),
            "evidence": evidence,
        }
        report["strict_ok"] = all(report[k] for k in REQUIRED_LAYERS)
        return report

    def run(self, source: str, entry: str, mode: str, bars: Panel, config: SandboxConfig | None = None) -> Outcome:
        """Run ``entry`` of ``source`` on the frame built from ``bars``; raise :class:`SandboxError` on failure.

        ``mode`` is ``"backtest"`` (instances or targets) or ``"screening"`` (scores).
        The source should have passed ``validate`` first; the sandbox holds without it.
        """
        if mode not in ("backtest", "screening"):
            raise ValueError(f"unknown mode {mode!r}")
        config = config or SandboxConfig()
        req = {"op": "run", "source": source, "entry": entry, "mode": mode, "symbols": list(bars.symbols), **config.request_fields()}
        header, arrays = self._call(req, bars.arrays())
        if not header.get("ok"):
            err = header.get("error", {})
            raise SandboxError(err.get("type", "unknown"), err.get("message", "the strategy failed"))
        return Outcome(header["kind"], header.get("rows"), arrays.get("target"), header.get("usage", {}))


_default: Sandbox | None = None
_default_lock = threading.Lock()


def default_sandbox() -> Sandbox:
    """This process's sandbox (one runner per worker process), started on first use."""
    global _default
    with _default_lock:
        if _default is None or _default_pid != os.getpid():
            _set_default(Sandbox())
        assert _default is not None
        return _default


_default_pid = -1


def _set_default(sb: Sandbox) -> None:
    global _default, _default_pid
    _default, _default_pid = sb, os.getpid()


def panel_from_frames(frames: dict[str, Any]) -> Panel:
    """A panel from ``{symbol: frame}`` with ``date``/``ts`` (or a DatetimeIndex) and OHLCV columns
    (lower- or capitalised names); times are taken as UTC session dates."""
    import pandas as pd

    per_symbol = {}
    for sym, df in frames.items():
        raw = df["date"] if "date" in df.columns else df["ts"] if "ts" in df.columns else df.index
        dates = pd.DatetimeIndex(pd.to_datetime(raw))
        if dates.tz is not None:
            dates = dates.tz_convert("UTC").tz_localize(None)
        cols = {k: np.asarray(df[k if k in df.columns else k.capitalize()], dtype=np.float64) for k in ("open", "high", "low", "close", "volume")}
        per_symbol[sym] = {"date": dates.normalize().as_unit("ns").asi8, **cols}
    return Panel.from_columns(per_symbol)

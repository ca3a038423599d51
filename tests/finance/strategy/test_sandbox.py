"""The sandbox runner: results of honest strategies, the frame, the self-check, the process layout."""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from quantq.finance.backtest.panel import Panel
from quantq.finance.strategy import contract, runner, wire
from quantq.finance.strategy.frame import build_frame
from quantq.finance.strategy.sandbox import Sandbox, SandboxConfig, SandboxError
from tests.finance.strategy.conftest import FAST, small_panel

GAP_UP = '''
def gap_up_strategy(df):
    instances = []
    df_filtered = df[(df['gap_pct'] > 1.0) & (df['volume_ratio'] > 1.2)]
    for _, row in df_filtered.iterrows():
        instances.append({
            'ticker': row['ticker'],
            'date': str(row['date']),
            'signal': True,
            'gap_percent': row['gap_pct'],
            'message': f"{row['ticker']} gapped up {row['gap_pct']:.1f}%"
        })
    return instances
'''


def test_signal_strategy_returns_instances(sandbox, panel):
    out = sandbox.run(GAP_UP, "gap_up_strategy", "backtest", panel, FAST)
    frame = build_frame(panel.arrays(), panel.symbols)
    expected = frame[(frame["gap_pct"] > 1.0) & (frame["volume_ratio"] > 1.2)]
    assert out.kind == "instances" and len(out.rows) == len(expected) > 0
    first = out.rows[0]
    assert first["ticker"] == expected.iloc[0]["ticker"] and first["signal"] is True
    assert first["gap_percent"] == pytest.approx(expected.iloc[0]["gap_pct"], rel=1e-12)
    assert first["message"].endswith("%") and first["date"] == str(expected.iloc[0]["date"])
    assert out.usage["cpu_seconds"] >= 0 and out.usage["wall_seconds"] > 0


def test_position_strategy_returns_targets(sandbox, panel):
    src = (
        "from quantq.finance.strategy import helpers\n"
        "def strategy(df):\n"
        "    return helpers.per_ticker(df, lambda g: helpers.entries_to_target(g['returns'].to_numpy() > 0.01, g['returns'].to_numpy() < -0.01))\n"
    )
    out = sandbox.run(src, "strategy", "backtest", panel, FAST)
    assert out.kind == "targets" and out.targets.shape == (len(panel),)
    frame = build_frame(panel.arrays(), panel.symbols)
    r = frame["returns"].to_numpy()
    expected = np.where(r > 0.01, 1.0, np.where(r < -0.01, -1.0, np.nan))
    np.testing.assert_array_equal(out.targets, expected)


def test_screening_returns_scores(sandbox, panel):
    src = "def screen(df):\n    return [{'ticker': t, 'score': float(g['close'].iloc[-1])} for t, g in df.groupby('ticker')]\n"
    out = sandbox.run(src, "screen", "screening", panel, FAST)
    assert out.kind == "scores" and {r["ticker"] for r in out.rows} == set(panel.symbols)
    with pytest.raises(SandboxError) as info:
        sandbox.run("def screen(df):\n    return [{'ticker': 'AAA', 'score': 'high'}]\n", "screen", "screening", panel, FAST)
    assert info.value.kind == "invalid_result" and "score must be a number" in str(info.value)


def test_user_exception_reports_type_and_line(sandbox, panel):
    with pytest.raises(SandboxError) as info:
        sandbox.run("def f(df):\n    x = 1\n    return x / 0\n", "f", "backtest", panel, FAST)
    assert info.value.kind == "strategy_error"
    assert "ZeroDivisionError" in str(info.value) and "line 3" in str(info.value)


def test_missing_keys_and_wrong_length_rejected(sandbox, panel):
    with pytest.raises(SandboxError, match="lacks date, signal"):
        sandbox.run("def f(df):\n    return [{'ticker': 'A'}]\n", "f", "backtest", panel, FAST)
    with pytest.raises(SandboxError, match="targets have 3 rows"):
        sandbox.run("import numpy as np\ndef f(df):\n    return np.zeros(3)\n", "f", "backtest", panel, FAST)


def test_self_check_proves_every_layer(sandbox):
    report = sandbox.self_check(FAST)
    assert report["process_layout"] and report["limits"]
    assert report["landlock"] and report["landlock_abi"] >= 1
    assert report["seccomp"] and report["strict_ok"]
    for attempt, outcome in report["evidence"].items():
        assert outcome.startswith("denied"), (attempt, outcome)


def test_self_check_detects_switched_off_layers(sandbox):
    report = sandbox.self_check(dataclasses.replace(FAST, landlock=False, seccomp=False))
    assert not report["landlock"] and not report["seccomp"] and not report["strict_ok"]
    assert report["evidence"]["read /etc/passwd"] == "ALLOWED"


def test_strict_mode_refuses_without_required_layers(sandbox, panel):
    cfg = dataclasses.replace(FAST, strict=True, seccomp=False)
    with pytest.raises(SandboxError) as info:
        sandbox.run("def f(df):\n    return []\n", "f", "backtest", panel, cfg)
    assert info.value.kind == "unavailable" and "seccomp" in str(info.value)
    assert sandbox.run("def f(df):\n    return []\n", "f", "backtest", panel, dataclasses.replace(FAST, strict=True)).rows == []


def test_runner_starts_clean(monkeypatch):
    monkeypatch.setenv("QUANTQ_BROKER_PASSWORD", "hunter2")
    r, w = os.pipe()  # an inheritable descriptor the runner must not get
    os.set_inheritable(w, True)
    try:
        with Sandbox() as sb:
            info = sb.ping()
            assert "QUANTQ_BROKER_PASSWORD" not in info["env"]
            assert set(info["env"]) <= {"PATH", "LANG", "HOME", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "_RJEM_MALLOC_CONF"}
            # stdin, stdout, stderr, the protocol fd, two pipes per spare child, the listing itself
            assert len(info["fds"]) <= 5 + 2 * runner.SPARES
            assert info["pid"] != os.getpid()
    finally:
        os.close(r)
        os.close(w)


def test_runner_is_restarted_after_it_dies(panel):
    with Sandbox() as sb:
        first = sb.ping()["pid"]
        os.kill(first, signal.SIGKILL)
        with pytest.raises(SandboxError):
            sb.ping()
        assert sb.ping()["pid"] != first
        assert sb.run("def f(df):\n    return []\n", "f", "backtest", panel, FAST).rows == []


def test_frame_columns_by_hand():
    day = np.datetime64("2024-01-01", "ns").astype(np.int64)
    ns = day + np.arange(25) * 86_400 * 10**9
    vol = np.arange(1.0, 26.0)
    close = np.full(25, 10.0)
    close[1] = 11.0
    open_ = np.full(25, 10.0)
    open_[2] = 11.55  # 5 % over the previous close of 11
    p = Panel.from_columns({"X": {"date": ns, "open": open_, "high": close + 1, "low": close - 1, "close": close, "volume": vol}})
    df = build_frame(p.arrays(), p.symbols)
    assert tuple(df.columns) == contract.FRAME_COLUMNS
    assert np.isnan(df["prev_close"][0]) and df["prev_close"][2] == 11.0
    assert df["returns"][1] == pytest.approx(0.1) and df["change_pct"][1] == pytest.approx(10.0)
    assert df["gap_pct"][2] == pytest.approx(5.0)
    assert np.isnan(df["volume_avg_20"][19]) and df["volume_avg_20"][20] == pytest.approx(np.mean(vol[:20]))
    assert df["volume_ratio"][20] == pytest.approx(21 / np.mean(vol[:20]))
    assert df["ticker"][0] == "X" and str(df["date"][0]) == "2024-01-01 00:00:00"


def test_frame_restarts_per_ticker():
    p = small_panel(25, ("AAA", "BBB"))
    df = build_frame(p.arrays(), p.symbols)
    first_b = int(np.flatnonzero(df["ticker"].to_numpy() == "BBB")[0])
    assert np.isnan(df["prev_close"][first_b]) and np.isnan(df["volume_avg_20"][first_b + 19])


def test_wire_refuses_object_arrays_and_truncation():
    with pytest.raises(wire.WireError, match="dtype"):
        wire.encode({}, {"x": np.array(["a"], dtype=object)})
    msg = wire.encode({"a": 1}, {"x": np.arange(4.0)})
    head, arrays = wire.decode(msg[8:])
    assert head == {"a": 1} and arrays["x"].tolist() == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(wire.WireError, match="past the end"):
        wire.decode(msg[8:-8])
    with pytest.raises(ValueError, match="read-only"):
        arrays["x"][0] = 1.0  # decoded arrays are views that nobody may change


def test_wire_streams_the_same_bytes_it_encodes():
    import io

    arrays = {"i": np.arange(6, dtype=np.int32).reshape(2, 3), "f": np.linspace(0, 1, 5)[::2], "b": np.array([True, False]),
              "e": np.empty(0)}
    sink = io.BytesIO()
    wire.write_message(sink, {"k": "v"}, arrays)
    assert sink.getvalue() == wire.encode({"k": "v"}, arrays)
    head, back = wire.read_message(io.BufferedReader(io.BytesIO(sink.getvalue())))
    assert head == {"k": "v"} and back["i"].tolist() == [[0, 1, 2], [3, 4, 5]] and back["f"].tolist() == [0.0, 0.5, 1.0]
    assert back["b"].tolist() == [True, False] and back["e"].shape == (0,)
    with pytest.raises(EOFError):
        wire.read_message(io.BufferedReader(io.BytesIO(sink.getvalue()[:-3])))


def test_config_rejects_nonsense():
    with pytest.raises(ValueError):
        SandboxConfig(cpu_seconds=0)
    with pytest.raises(ValueError):
        SandboxConfig(wall_seconds=-1)


def test_pid_namespace_hides_every_other_process(sandbox, panel):
    report = sandbox.self_check(FAST)
    if not report["namespaces"].get("pid"):
        pytest.skip("this host refuses PID namespaces (detected by the self-check)")
    src = "import os\ndef strategy(df):\n    return [{'ticker': 'A', 'date': 'd', 'signal': True, 'pid': os.getpid(), 'ppid': os.getppid()}]\n"
    row = sandbox.run(src, "strategy", "backtest", panel, dataclasses.replace(FAST, python_guards=False)).rows[0]
    assert (row["pid"], row["ppid"]) == (1, 0)  # PID 1 of its own namespace; its parent is outside
    plain = sandbox.run(src, "strategy", "backtest", panel, dataclasses.replace(FAST, python_guards=False, namespaces=False)).rows[0]
    assert plain["pid"] > 1 and plain["ppid"] > 1


def test_runner_dies_with_the_worker_process(tmp_path):
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    code = (
        "import os, sys\n"
        f"sys.path.insert(0, {str(root)!r})\n"
        "from quantq.finance.strategy.sandbox import Sandbox\n"
        "sb = Sandbox(); print(sb.ping()['pid'], flush=True)\n"
        "os._exit(0)\n"  # the worker dies without closing anything
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    runner = int(out.stdout.split()[0])
    deadline = time.monotonic() + 5
    while Path(f"/proc/{runner}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    status = Path(f"/proc/{runner}/stat").read_text().split()[2] if Path(f"/proc/{runner}").exists() else "gone"
    assert status in ("gone", "Z"), status


# Walks every frame of the child's stack and every object the collector knows, looking for the
# previous run's source and result; runs with the Python guards off (only the kernel layers).
_SNOOP = '''
import gc, sys
def f(df):
    marker = "PREVIOUS-" + "RUN-" + "SECRET"
    seen = []
    def look(value, depth=0):
        if isinstance(value, (bytes, bytearray, memoryview)):
            if marker.encode() in bytes(value):
                seen.append(type(value).__name__)
        elif isinstance(value, str):
            if value is not marker and marker in value:
                seen.append("str")
        elif isinstance(value, (list, tuple, dict)) and depth < 4:
            for v in (value.values() if isinstance(value, dict) else value):
                look(v, depth + 1)
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code.co_filename != "<strategy>":
            for v in list(frame.f_locals.values()):
                look(v)
        frame = frame.f_back
    for obj in gc.get_objects():
        if isinstance(obj, (dict, list)) and obj is not seen:
            look(obj, 3)
    look(getattr(sys.stdin, "buffer", None) and sys.stdin.buffer.peek(1 << 16))
    return [{"ticker": "AAA", "date": "2024-01-01", "signal": True, "seen": sorted(set(seen))}]
'''


def test_a_run_sees_nothing_of_the_previous_run(sandbox, panel):
    """The next run's child is forked after the previous one finished: neither the previous
    request (source, data) nor its result may be alive in the process it is forked from."""
    secret = "def f(df):\n    note = 'PREVIOUS-RUN-SECRET'\n    return [{'ticker': 'AAA', 'date': '2024-01-01', 'signal': True, 'message': note}]\n"
    first = sandbox.run(secret, "f", "backtest", panel, FAST)
    assert first.rows[0]["message"] == "PREVIOUS-RUN-SECRET"
    snoop = sandbox.run(_SNOOP, "f", "backtest", panel, dataclasses.replace(FAST, python_guards=False))
    assert snoop.rows[0]["seen"] == []


def _memory_holds(pid: int, needle: bytes) -> bool:
    """Whether any readable mapping of process ``pid`` contains ``needle`` (live or freed memory)."""
    try:
        fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    except PermissionError:  # ptrace_scope forbids it here; CI runs as root and must check
        if os.environ.get("CI", "").lower() == "true":
            raise
        pytest.skip("this host does not let a test read another process's memory")
    try:
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            span, perms = line.split()[:2]
            if "r" not in perms or line.endswith(("[vvar]", "[vsyscall]", "[vvar_vclock]")):
                continue
            lo, hi = (int(x, 16) for x in span.split("-"))
            try:
                if needle in os.pread(fd, hi - lo, lo):
                    return True
            except OSError:
                continue
    finally:
        os.close(fd)
    return False


def test_the_runner_never_holds_a_request():
    """The worker writes each request straight into the run's pipe (handed over by the runner),
    so the runner — the process every later run is forked from — never has a strategy's source
    or data in its memory, not even freed."""
    marker = "QQ-SOURCE-" + os.urandom(6).hex()
    with Sandbox() as sb:
        runner_pid = sb.ping()["pid"]
        src = f"def f(df):\n    note = '{marker}'\n    return []\n"
        for _ in range(3):
            assert sb.run(src, "f", "backtest", small_panel(), FAST).rows == []
        sb.ping()
        assert _memory_holds(os.getpid(), marker.encode())  # the check can see it where it is
        assert not _memory_holds(runner_pid, marker.encode())

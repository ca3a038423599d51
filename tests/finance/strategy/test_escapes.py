"""The escape corpus against the sandbox, with validation bypassed (the wall must hold alone).

Layouts: every layer; the kernel layers only with namespaces off (what a plain container
gives); and a sabotage layout with confinement switched off, where each attack must succeed,
proving that these tests measure the wall and not an accident.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from quantq.finance.strategy import runner
from quantq.finance.strategy.sandbox import Sandbox, SandboxError
from quantq.finance.strategy.validate import StrategyValidationError, validate
from tests.finance.strategy.conftest import FAST, small_panel
from tests.finance.strategy.escape_corpus import CASES, KERNEL_RESOURCE_CASES, RESOURCE_CASES, Case

LAYOUTS = {
    "all-layers": FAST,
    "kernel-no-namespaces": dataclasses.replace(FAST, namespaces=False, python_guards=False),
}
SABOTAGE = dataclasses.replace(FAST, namespaces=False, landlock=False, seccomp=False, python_guards=False, max_file_bytes=1 << 20)
PANEL = small_panel(30)


class World:
    """The secret, the listener and a bystander job that attacks must not reach."""

    def __init__(self, tmp: Path) -> None:
        self.token = "QQSECRET-" + secrets.token_hex(8)
        self.secret = tmp / "secret.txt"
        self.secret.write_text(self.token + "\n")
        self.secret.chmod(0o644)
        self.marks = tmp / "marks"
        self.marks.mkdir()
        self.marks.chmod(0o777)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received: list[bytes] = []
        self.server.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self.bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(0.5)
                try:
                    self.received.append(conn.recv(65536))
                    conn.sendall(b"HTTP/1.0 200 OK\r\n\r\na,b\n1,2\n")
                except OSError:
                    pass

    def source(self, case: Case) -> tuple[str, Path]:
        mark = self.marks / f"{case.name}.out"
        src = (
            case.source.replace("@SECRET@", str(self.secret))
            .replace("@TOKEN@", self.token)
            .replace("@MARK@", str(mark))
            .replace("@PORT@", str(self.port))
        )
        return src, mark

    def close(self) -> None:
        self._stop.set()
        self.server.close()
        self.bystander.kill()
        self.bystander.wait()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("escape"))
    os.environ["QUANTQ_TEST_SECRET"] = w.token  # the worker's environment holds a secret
    yield w
    os.environ.pop("QUANTQ_TEST_SECRET", None)
    w.close()


@pytest.fixture(scope="module")
def box(world: World) -> Iterator[Sandbox]:
    sb = Sandbox()
    sb.ping()
    yield sb
    sb.close()


def test_corpus_is_large_enough():
    assert len(CASES) + len(RESOURCE_CASES) + len(KERNEL_RESOURCE_CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_escape_is_stopped(case: Case, layout: str, world: World, box: Sandbox) -> None:
    src, mark = world.source(case)
    runner_pid = box.ping()["pid"]
    before = len(world.received)
    try:
        outcome = box.run(src, "strategy", "backtest", PANEL, LAYOUTS[layout])
    except SandboxError as exc:
        assert exc.kind in ("strategy_error", "invalid_result", "memory_limit", "crashed"), exc.kind
        assert str(exc).strip()
        assert world.token not in str(exc)
    else:
        assert case.readonly, f"attack {case.name!r} returned a result: {outcome.rows!r:.300}"
        assert world.token not in repr(outcome.rows)
    assert not mark.exists() and not list(world.marks.iterdir())
    assert len(world.received) == before, "something reached the test's TCP listener"
    assert box.ping()["pid"] == runner_pid  # the runner (the worker's side) is untouched
    assert world.bystander.poll() is None  # another job's process is untouched


@pytest.mark.parametrize("case", [c for c in CASES if c.sabotage], ids=lambda c: c.name)
def test_sabotage_every_attack_succeeds_without_confinement(case: Case, world: World, box: Sandbox) -> None:
    src, mark = world.source(case)
    try:
        try:
            outcome = box.run(src, "strategy", "backtest", PANEL, SABOTAGE)
            escaped = bool(outcome.rows) and outcome.rows[0]["ticker"] == "ESCAPED"
        except SandboxError as exc:
            escaped, outcome = False, exc  # type: ignore[assignment]
        escaped = escaped or mark.exists()  # an exec'd program leaves its mark instead of a result
    finally:
        for f in world.marks.iterdir():
            f.unlink()
    assert escaped, outcome


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name, source, kinds", RESOURCE_CASES, ids=[c[0] for c in RESOURCE_CASES])
def test_resource_abuse_ends_in_clear_error(name: str, source: str, kinds: tuple[str, ...], layout: str, box: Sandbox) -> None:
    # wall far above CPU: a loaded test machine must still end the loop by its CPU limit
    config = dataclasses.replace(LAYOUTS[layout], cpu_seconds=1, wall_seconds=15.0)
    runner_pid = box.ping()["pid"]
    with pytest.raises(SandboxError) as info:
        box.run(source, "strategy", "backtest", PANEL, config)
    assert info.value.kind in kinds, (info.value.kind, str(info.value))
    assert box.ping()["pid"] == runner_pid


@pytest.mark.parametrize("name, source, kinds", KERNEL_RESOURCE_CASES, ids=[c[0] for c in KERNEL_RESOURCE_CASES])
def test_kernel_only_misbehaviour(name: str, source: str, kinds: tuple[str, ...], box: Sandbox) -> None:
    wall = 1.5 if name == "sleep-forever" else 15.0  # only the sleeper should meet the wall clock
    config = dataclasses.replace(LAYOUTS["kernel-no-namespaces"], cpu_seconds=2, wall_seconds=wall)
    runner_pid = box.ping()["pid"]
    if kinds == ("ok",):
        out = box.run(source, "strategy", "backtest", PANEL, config)
        assert out.rows == [] and out.usage["wall_seconds"] < wall
        box.ping()  # the runner reaps a run before it reads the next request
        assert not Path(f"/proc/{out.usage['pid']}").exists()  # the run's process (and its threads) is gone
    else:
        with pytest.raises(SandboxError) as info:
            box.run(source, "strategy", "backtest", PANEL, config)
        assert info.value.kind in kinds, (info.value.kind, str(info.value))
    assert box.ping()["pid"] == runner_pid
    # nothing of the run survives it: the runner's only children are the fresh spares for the next runs
    children = Path(f"/proc/{runner_pid}/task/{runner_pid}/children").read_text().split()
    assert len(children) == runner.SPARES


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_validation_rejects_the_attack_first(case: Case) -> None:
    with pytest.raises(StrategyValidationError) as info:
        validate(case.source)
    assert info.value.issues and all(i.rule for i in info.value.issues)
    assert str(info.value).startswith("Security validation failed: ")

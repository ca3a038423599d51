"""A real database restart while real workers run.

Each test starts a database server of its own (PostgreSQL: ``initdb`` + ``pg_ctl`` into a
temporary directory, on a free port with its socket in that directory; MariaDB:
``mariadb-install-db`` + ``mariadbd``), runs two ``quantq worker`` processes on it with jobs
flowing, restarts the server under them (``pg_ctl restart -m fast`` and ``-m immediate``, a
stop longer than the leases and ``retry_for``), and checks that the workers neither crash nor
lose a job: every job ends completed, once, with its own result, and every execution the
task logged belongs to an attempt the store counted (at-least-once, as docs/backends.md says).

The shared services are not touched.  Without the server binaries the tests skip with the
reason (under ``CI=true`` they fail, as tests/services.py rules for services).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from quantq import envelope, jobs
from tests.acceptance import helpers as h
from tests.fixtures.tasks import executions
from tests.services import in_ci

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
S = jobs.JobStatus
JOBS = 160
#: Short leases and a short retry window, so an outage longer than both is part of the test.
WORKER_ARGS = ["--concurrency", "2", "--lease", "1.5"]


def unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str], *, user: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    if user is not None:
        cmd = ["runuser", "-u", user, "--", *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


# ---- servers of the tests' own ---------------------------------------------------------------


class OwnPostgres:
    """A throwaway PostgreSQL cluster: initdb into a temp dir, unix socket in that dir."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        initdb = found[-1] if found else shutil.which("initdb")
        if initdb is None:
            unavailable("no PostgreSQL server binaries (initdb) on this machine")
        self.bin = Path(initdb).parent  # type: ignore[arg-type]
        # initdb refuses to run as root: then the cluster belongs to the postgres user
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                unavailable("running as root and there is no 'postgres' user to own a test cluster")
            if shutil.which("runuser") is None:
                unavailable("running as root without runuser to start PostgreSQL as another user")
            self.user = "postgres"
        self.dir = Path(tempfile.mkdtemp(prefix="qpg"))  # short: a socket path has ~100 bytes
        if self.user is not None:
            shutil.chown(self.dir, self.user)
        self.data = self.dir / "data"
        self.port = free_port()
        run([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"],
            user=self.user)
        # fsync off: an immediate stop kills the server's processes, not the machine, so the
        # WAL in the page cache survives it; the tests need no disk flushes
        self.options = f"-p {self.port} -k {self.dir} -c listen_addresses='' -c fsync=off"
        self.url = f"postgresql://postgres@/postgres?host={self.dir}&port={self.port}&schema=quantq&retry_for=1"

    def ctl(self, *args: str) -> None:
        run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w", *args],
            user=self.user)

    def start(self) -> None:
        self.ctl("-o", self.options, "start")

    def stop(self, mode: str = "fast") -> None:
        self.ctl("-m", mode, "stop")

    def restart(self, mode: str) -> None:
        self.ctl("-m", mode, "-o", self.options, "restart")

    def cleanup(self) -> None:
        try:
            self.stop("immediate")
        except AssertionError:
            pass  # not running
        shutil.rmtree(self.dir, ignore_errors=True)


class OwnMariaDB:
    """A throwaway MariaDB server: mariadb-install-db into a temp dir, TCP on a free port."""

    def __init__(self) -> None:
        self.install = shutil.which("mariadb-install-db")
        self.server = shutil.which("mariadbd") or (os.path.exists("/usr/sbin/mariadbd") and "/usr/sbin/mariadbd") or None
        if self.install is None or self.server is None:
            unavailable("no MariaDB server binaries (mariadb-install-db, mariadbd) on this machine")
        self.dir = Path(tempfile.mkdtemp(prefix="qmy"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        run([self.install, "--no-defaults", f"--datadir={self.data}", "--auth-root-authentication-method=normal",  # type: ignore[list-item]
             f"--user={self.user}", "--skip-test-db"], timeout=120)
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"mysql://root@127.0.0.1:{self.port}/test?retry_for=1"

    def start(self) -> None:
        log = open(self.dir / "server.log", "ab")
        self.proc = subprocess.Popen(
            [self.server, "--no-defaults", f"--datadir={self.data}", f"--port={self.port}", "--bind-address=127.0.0.1",  # type: ignore[list-item]
             f"--socket={self.dir}/mysqld.sock", f"--pid-file={self.dir}/mysqld.pid", f"--user={self.user}",
             "--innodb-buffer-pool-size=32M", "--innodb-flush-log-at-trx-commit=2", "--skip-log-bin",
             # the old default many servers still run with: quantq's tables must not depend on it
             "--character-set-server=latin1", "--collation-server=latin1_swedish_ci"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"mariadbd did not start: {(self.dir / 'server.log').read_text()[-2000:]}") from None
                time.sleep(0.05)

    def create_database(self) -> None:
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", port=self.port, user="root", autocommit=True)
        try:
            conn.cursor().execute("CREATE DATABASE IF NOT EXISTS test")
        finally:
            conn.close()

    def stop(self, mode: str = "fast") -> None:
        """``fast``: SIGTERM, a clean shutdown; ``immediate``: SIGKILL, a crash."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM if mode == "fast" else signal.SIGKILL)
        self.proc.wait(60)
        self.proc = None

    def restart(self, mode: str) -> None:
        self.stop(mode)
        self.start()

    def cleanup(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(params=["postgres", "mysql"])
def own_server(request: pytest.FixtureRequest) -> Iterator[OwnPostgres | OwnMariaDB]:
    server: OwnPostgres | OwnMariaDB = OwnPostgres() if request.param == "postgres" else OwnMariaDB()
    try:
        server.start()
        if isinstance(server, OwnMariaDB):
            server.create_database()
        yield server
    finally:
        server.cleanup()


# ---- the test --------------------------------------------------------------------------------


def test_workers_ride_out_server_restarts_and_lose_no_job(own_server: OwnPostgres | OwnMariaDB, tmp_path: Path) -> None:
    url = own_server.url
    log = tmp_path / "runs.log"
    backend = h.open_backend(url)
    try:
        ids = [j.id for j in backend.enqueue([
            envelope.parse_submission({"task": "fixtures.record", "args": {"log": str(log), "seconds": 0.08}, "max_attempts": 25})
            for _ in range(JOBS)])]
    finally:
        backend.close()
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers = [h.start_worker(url, *WORKER_ARGS, "--name", f"restart-{i}", log=logs[i]) for i in range(2)]
    try:
        def ran(n: int) -> None:
            h.wait_for(lambda: sum(executions(log).values()) >= n, timeout=40, what=f"{n} executions")

        # 1. a fast restart (sessions terminated, clean shutdown) while jobs run
        ran(20)
        own_server.restart("fast")
        # 2. an immediate restart: the server's processes die, crash recovery on start
        ran(sum(executions(log).values()) + 20)
        own_server.restart("immediate")
        # 3. down for longer than the leases and retry_for: operations raise, the workers back off
        ran(sum(executions(log).values()) + 20)
        own_server.stop("immediate")
        time.sleep(3.0)
        assert [w.poll() for w in workers] == [None, None], "a worker exited while the server was down"
        own_server.start()

        backend = h.open_backend(url)
        try:
            h.wait_for(lambda: h.status_counts(backend).get("completed") == JOBS, timeout=60,
                       what=f"all {JOBS} jobs to complete")
            done = h.all_jobs(backend)
        finally:
            backend.close()
        assert [w.poll() for w in workers] == [None, None], "a worker exited after the restarts"
        codes = [h.stop(w) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                h.kill_tree(w)
    output = "\n".join(p.read_text() for p in logs)
    assert codes == [0, 0], f"the workers did not stop cleanly: {codes}\n{output[-3000:]}"
    assert "Traceback" not in output, output[-3000:]
    # the long outage was noticed and waited out with back-off, not crashed through
    failures = [line for line in output.splitlines() if "_failed " in line]
    assert any("claim_failed" in line or "report_failed" in line for line in failures), output[-3000:]
    # ... and every failure was the server being away, not a statement the server refused
    assert all("is unavailable" in line for line in failures), [line for line in failures if "is unavailable" not in line]

    assert sorted(j.id for j in done) == sorted(ids)
    assert {j.status for j in done} == {S.COMPLETED}
    assert all(j.result == j.id for j in done)  # each record completed by a run of its own job
    runs = executions(log)
    assert set(runs) == set(ids)  # no job lost: every one ran
    by_id = {j.id: j for j in done}
    over = {i: (n, by_id[i].attempts) for i, n in runs.items() if n > by_id[i].attempts}
    assert not over, f"executions without a claim counted for them: {over}"


def test_first_operation_after_a_restart_does_not_pay_for_every_broken_pooled_connection(
    own_server: OwnPostgres | OwnMariaDB,
) -> None:
    """A restart breaks every pooled connection at once.  Meeting them one failed attempt and
    one back-off sleep at a time took 4.6-5.6 s with 8 pooled connections, past retry_for."""
    import threading

    backend = h.open_backend(own_server.url)  # retry_for=1
    try:
        def busy() -> None:
            for _ in range(30):
                backend.now()

        threads = [threading.Thread(target=busy) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        own_server.restart("fast")
        started = time.monotonic()
        backend.now()  # raised BackendUnavailable before: the broken connections outlasted retry_for
        assert time.monotonic() - started < 0.5
        assert backend.get("no-such-job") is None
    finally:
        backend.close()


def test_a_batch_of_results_keeps_unicode_on_a_latin1_server(request: pytest.FixtureRequest) -> None:
    """MariaDB's JSON_TABLE columns take the database's default character set unless told:
    on a latin1 server the batched completion must still match ids and keep the results."""
    server = OwnMariaDB()
    try:
        server.start()
        server.create_database()
        backend = h.open_backend(server.url)
        try:
            ids = ["order-1", "order-2", "order-3"]
            backend.enqueue([envelope.parse_submission({"task": "quantq.echo", "id": i}) for i in ids])
            claims = backend.claim(["default"], worker_id="w", hostname="h", lease=30, limit=3)
            assert sorted(c.job_id for c in claims) == sorted(ids)
            from quantq.backends.base import Outcome

            stored = backend.report([Outcome(claim=c, result={"name": "Société Générale ₿ 株式", "id": c.job_id}) for c in claims])
            assert [s.status if s else None for s in stored] == [S.COMPLETED] * 3
            for i in ids:
                job = backend.get(i)
                assert job is not None and job.status is S.COMPLETED
                assert job.result == {"name": "Société Générale ₿ 株式", "id": i}
        finally:
            backend.close()
    finally:
        server.cleanup()

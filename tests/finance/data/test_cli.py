from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantq.finance.cli import app
from quantq.finance.data.store import MarketStore

from .conftest import SAMPLES, tree_snapshot

runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None) -> object:
    return runner.invoke(app, list(args), env=env or {}, catch_exceptions=False)


@pytest.fixture
def data(tmp_path: Path) -> str:
    return str(tmp_path / "store")


def test_import_then_list_json(data: str) -> None:
    res = run("--data", data, "import", str(SAMPLES / "MSFT_daily.csv"))
    assert res.exit_code == 0, res.output
    assert "imported: 7,983 rows for 1 symbol(s): MSFT" in res.output
    res = run("--data", data, "list", "--json")
    assert res.exit_code == 0
    listed = json.loads(res.output)
    assert listed["series"] == [
        {"symbol": "MSFT", "bar_size": "1d", "rows": 7983, "first": "1986-03-13", "last": "2017-11-10"}
    ]


def test_env_var_selects_the_store(data: str) -> None:
    res = run("import", str(SAMPLES / "SP500_index_daily.csv"), "--symbol", "spx", env={"QUANTQ_DATA": data})
    assert res.exit_code == 0, res.output
    assert MarketStore.open(data).symbols() == ["SPX"]


def test_list_table(data: str) -> None:
    run("--data", data, "import", str(SAMPLES / "MSFT_daily.csv"))
    res = run("--data", data, "list")
    assert res.exit_code == 0 and "MSFT" in res.output and "7,983" in res.output and "1986-03-13" in res.output


def test_rejected_import_exit_1_reports_rows_and_writes_nothing(data: str, tmp_path: Path) -> None:
    run("--data", data, "import", str(SAMPLES / "MSFT_daily.csv"))
    before = tree_snapshot(data)
    bad = tmp_path / "MSFT_bad.csv"
    bad.write_text(
        "date,open,high,low,close,volume\n2020-01-02,10,11,9,10,5\n2020-01-03,10,9,11,10,5\n2020-01-03,10,11,9,10,5\n"
    )
    res = run("--data", data, "import", str(bad), "--json")
    assert res.exit_code == 1
    report = json.loads(res.output)
    assert report["status"] == "rejected" and [r["row"] for r in report["rejects"]] == [2]
    assert "high < low" in report["rejects"][0]["reason"]
    assert tree_snapshot(data) == before
    res = run("--data", data, "import", str(bad))
    assert res.exit_code == 1 and "rejected" in res.output and "high < low" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import", "/no/such/file.csv"], "no such file"),
        (["import", str(SAMPLES / "MSFT_daily.csv"), "--map", "nonsense"], "expected TARGET=COLUMN"),
        (["import", str(SAMPLES / "MSFT_daily.csv"), "--bar-size", "7x"], "invalid bar size"),
        (["import", str(SAMPLES / "MSFT_daily.csv"), "--ticks", "--closes"], "cannot be combined"),
        (["import", str(SAMPLES / "MSFT_daily.csv"), "--ticks"], "no column for"),
        (["generate", "--symbols", "2", "--end", "yesterday"], "bad option"),
    ],
)
def test_bad_input_is_a_clear_error_not_a_traceback(data: str, args: list[str], message: str) -> None:
    res = runner.invoke(app, ["--data", data, *args])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_list_of_a_missing_explicit_store_fails(tmp_path: Path) -> None:
    res = runner.invoke(app, ["--data", str(tmp_path / "nothing"), "list"])
    assert res.exit_code == 2 and "no quantq market store" in res.output
    assert not (tmp_path / "nothing").exists()


def test_generate_is_deterministic_and_listed(tmp_path: Path) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    for d in (a, b):
        res = run(
            "--data",
            d,
            "generate",
            "--symbols",
            "3",
            "--years",
            "0.5",
            "--ticks",
            "--seed",
            "9",
            "--prints-per-day",
            "50",
            "--json",
        )
        assert res.exit_code == 0, res.output
    assert json.loads(res.output)["symbols"] == 3
    assert tree_snapshot(a) == tree_snapshot(b)
    listed = json.loads(run("--data", a, "list", "--json").output)["series"]
    assert [(s["symbol"], s["bar_size"]) for s in listed] == [
        (f"SYN000{i}", k) for i in range(3) for k in ("1d", "tick")
    ]
    assert all(s["rows"] == 126 for s in listed if s["bar_size"] == "1d")


def test_load_samples(data: str) -> None:
    res = run("--data", data, "load-samples", "--synthetic", "2")
    assert res.exit_code == 0, res.output
    store = MarketStore.open(data)
    rows = {(s.symbol, s.bar_size): s.rows for s in store.list()}
    assert rows[("MSFT", "1d")] == 7983 and rows[("SP500", "1d")] == 5031 and rows[("NASDAQ", "1d")] == 5031
    assert rows[("AAPL", "1d")] == 8313 and ("SYN0001", "tick") in rows
    assert store.get_meta("MSFT").exchange == "XNAS"
    before = tree_snapshot(data)
    assert run("--data", data, "load-samples", "--synthetic", "2").exit_code == 0
    assert tree_snapshot(data) == before  # `make run` may load samples again: nothing changes


def test_update_command_reports_failures(data: str) -> None:
    res = run("--data", data, "update", "AAA", "bad sym", "--source", "synthetic", "--end", "2024-06-28")
    assert res.exit_code == 1
    assert "ok     AAA" in res.output and "failed bad sym" in res.output

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from quantq.finance.schema import (
    Bars,
    SchemaError,
    SymbolMeta,
    Ticks,
    check_bar_rows,
    check_bar_size,
    check_symbol,
    is_daily,
)

from .conftest import daily_bars


def _arrays(n: int = 4) -> dict[str, np.ndarray]:
    return {
        "ts": (np.datetime64("2024-01-02") + np.arange(n)).astype("datetime64[ns]"),
        "open": np.full(n, 10.0),
        "high": np.full(n, 11.0),
        "low": np.full(n, 9.0),
        "close": np.full(n, 10.5),
        "volume": np.full(n, 100.0),
    }


def _bars(**changes: object) -> Bars:
    a = _arrays()
    for key, (row, value) in changes.items():
        a[key] = a[key].copy()
        a[key][row] = value
    return Bars(**a, daily=True)


def test_valid_bars_are_read_only_copies() -> None:
    a = _arrays()
    bars = Bars(**a, daily=True)
    a["close"][0] = 999.0  # the caller's array changes ...
    assert bars.close[0] == 10.5  # ... the Bars value does not
    with pytest.raises(ValueError):
        bars.close[0] = 1.0
    assert len(bars) == 4


@pytest.mark.parametrize(
    ("changes", "row", "reason"),
    [
        ({"close": (2, np.nan)}, 2, "missing or non-finite close"),
        ({"open": (1, -1.0)}, 1, "non-positive open"),
        ({"low": (0, 0.0)}, 0, "non-positive low"),
        ({"high": (3, 8.0)}, 3, "high < low"),
        ({"volume": (1, -5.0)}, 1, "negative volume"),
        ({"close": (1, 12.0)}, 1, "close outside low..high"),
        ({"high": (2, np.inf)}, 2, "missing or non-finite high"),
    ],
)
def test_bad_values_name_row_and_reason(changes: dict, row: int, reason: str) -> None:
    with pytest.raises(SchemaError) as err:
        _bars(**changes)
    assert any(r == row and reason in why for r, why in err.value.problems), err.value.problems
    assert f"row {row}" in str(err.value)


def test_duplicate_and_unsorted_times_rejected() -> None:
    a = _arrays()
    a["ts"] = a["ts"].copy()
    a["ts"][2] = a["ts"][1]
    with pytest.raises(SchemaError, match="row 2: duplicate timestamp"):
        Bars(**a, daily=True)
    a["ts"][2] = a["ts"][0] - np.timedelta64(1, "D")
    with pytest.raises(SchemaError, match="row 2: timestamp earlier"):
        Bars(**a, daily=True)


def test_daily_bar_with_time_of_day_rejected() -> None:
    a = _arrays()
    a["ts"] = a["ts"] + np.timedelta64(14, "h")
    with pytest.raises(SchemaError, match="session date at 00:00 UTC"):
        Bars(**a, daily=True)
    assert len(Bars(**a, daily=False)) == 4  # intraday bars may have any time


def test_from_frame_rejects_naive_times_and_accepts_aware() -> None:
    df = pd.DataFrame(_arrays())
    with pytest.raises(SchemaError, match="naive timestamps"):
        Bars.from_frame(df)
    df["ts"] = df["ts"].dt.tz_localize("America/New_York")
    bars = Bars.from_frame(df)
    assert bars.ts[0] == np.datetime64("2024-01-02T05:00", "ns")  # converted to UTC, not relabelled


def test_from_frame_missing_column() -> None:
    table = pa.table({"ts": pa.array([0], pa.timestamp("ns", tz="UTC")), "close": [1.0]})
    with pytest.raises(SchemaError, match="missing column"):
        Bars.from_frame(table)


def test_arrow_roundtrip_keeps_utc() -> None:
    bars = daily_bars(5)
    table = bars.to_arrow()
    assert table.schema.field("ts").type == pa.timestamp("ns", tz="UTC")
    back = Bars.from_frame(table, daily=True)
    assert np.array_equal(back.ts, bars.ts) and np.array_equal(back.close, bars.close)


def test_ticks_allow_equal_times_but_not_decreasing() -> None:
    ts = np.array(["2024-01-02T14:30", "2024-01-02T14:30", "2024-01-02T14:31"], dtype="datetime64[ns]")
    t = Ticks(ts, [10.0, 10.1, 10.2], [100, 50, 7], ["N", None, "D"], [0, 1, 2])
    assert list(t.venue) == ["N", "", "D"]
    with pytest.raises(SchemaError, match="row 2: timestamp earlier"):
        Ticks(ts[[0, 2, 1]][[0, 1, 0]], [10.0, 10.1, 10.2], [1, 1, 1], ["", "", ""], [0, 1, 2])
    with pytest.raises(SchemaError, match="non-positive size"):
        Ticks(ts, [10.0, 10.1, 10.2], [100, 0, 7], ["", "", ""], [0, 1, 2])
    with pytest.raises(SchemaError, match="missing or non-finite price"):
        Ticks(ts, [10.0, np.nan, 10.2], [100, 1, 7], ["", "", ""], [0, 1, 2])


def test_check_rows_reports_every_bad_row() -> None:
    a = _arrays(6)
    a["close"][1] = np.nan
    a["high"][4] = 1.0
    rows = check_bar_rows(a["ts"], a["open"], a["high"], a["low"], a["close"], a["volume"])
    assert [r for r, _ in rows] == [1, 4]


def test_symbol_and_bar_size_rules() -> None:
    assert check_symbol(" brk.b ") == "BRK.B"
    assert check_symbol("^gspc") == "^GSPC"
    for bad in ("", "A/B", "../X", "A B", "x" * 40):
        with pytest.raises(ValueError):
            check_symbol(bad)
    assert check_bar_size("5m") == "5m"
    assert is_daily("1d") and is_daily("1w") and is_daily("1mo") and not is_daily("1h")
    for bad in ("1x", "d", "0d", "1D"):
        with pytest.raises(ValueError):
            check_bar_size(bad)


def test_symbol_meta_validates() -> None:
    meta = SymbolMeta(symbol="msft", exchange="XNAS", average_daily_volume=1e6)
    assert meta.symbol == "MSFT"
    with pytest.raises(ValueError):
        SymbolMeta(symbol="MSFT", average_daily_volume=-1)
    with pytest.raises(ValueError):
        SymbolMeta(symbol="MSFT", colour="red")  # type: ignore[call-arg]

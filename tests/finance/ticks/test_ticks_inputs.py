"""Input validation, ordering, config ranges, determinism and JSON shape."""

from __future__ import annotations

import datetime
import json

import numpy as np
import pandas as pd
import pytest

from quantq.finance import ticks

from .helpers import analyze, prints, session_table

T = "2024-03-08T10:00:00-05:00"


@pytest.mark.parametrize(
    ("price", "size", "message"),
    [
        (0.0, 100, "price 0.0 is not positive"),
        (-1.5, 100, "price -1.5 is not positive"),
        (10.0, 0, "size 0.0 is not positive"),
        (10.0, -100, "size -100.0 is not positive"),
        (float("nan"), 100, "price nan is not numeric"),
        (float("inf"), 100, "price inf is not numeric"),
        (10.0000001, 100, "price 10.0000001 has more than 6 decimals"),
        (10.0, 100.0000001, "size 100.0000001 has more than 6 decimals"),
        ("10.00", 100, "price '10.00' is not numeric"),
        (True, 100, "price True is not numeric"),
    ],
)
def test_invalid_print_is_rejected_with_its_row(price: object, size: object, message: str) -> None:
    rows = [(T, 10.0, 100, "NSDQ"), ("2024-03-08T10:00:01-05:00", price, size, "NSDQ")]
    with pytest.raises(ticks.InvalidTicks, match="print 1: " + message.replace("(", r"\(").replace(".", r"\.")):
        prints(rows)  # type: ignore[arg-type]


def test_six_decimals_are_accepted_exactly() -> None:
    p = prints([(T, 123.456789, 0.000001, "NSDQ")])
    assert (int(p.price_micros[0]), int(p.size_micros[0])) == (123_456_789, 1)


@pytest.mark.parametrize(
    "bad_time",
    ["2024-03-08T10:00:00", "2024-03-08 10:00:00", "2024-03-08", "yesterday", datetime.datetime(2024, 3, 8, 10)],
)
def test_time_without_offset_is_rejected(bad_time: object) -> None:
    with pytest.raises(ticks.InvalidTicks, match="print 1"):
        ticks.TickPrints.from_columns("X", [T, bad_time], [10.0, 10.0], [100, 100])


def test_naive_datetime64_is_rejected_but_int_ns_and_aware_values_are_utc() -> None:
    with pytest.raises(ticks.InvalidTicks, match="no UTC offset"):
        ticks.TickPrints.from_columns("X", np.array(["2024-03-08T15:00"], dtype="datetime64[ns]"), [1.0], [1.0])
    expected = pd.Timestamp("2024-03-08T15:00:00Z").value
    aware = pd.Series(pd.to_datetime(["2024-03-08T10:00:00-05:00"], utc=True))
    for ts in (
        np.array([expected]),
        aware,
        [datetime.datetime(2024, 3, 8, 15, tzinfo=datetime.UTC)],
        ["2024-03-08T15:00:00Z"],
        ["2024-03-08T16:00:00+01:00"],
    ):
        assert int(ticks.TickPrints.from_columns("X", ts, [1.0], [1.0]).ts_ns[0]) == expected


def test_equal_times_keep_insertion_order_and_unsorted_input_is_sorted() -> None:
    rows = [
        ("2024-03-08T10:00:05-05:00", 12.0, 100, "NSDQ"),  # inserted first but later in time
        (T, 10.0, 100, "NSDQ"),
        (T, 11.0, 100, "NSDQ"),  # same time as the previous row: stays after it
    ]
    p = prints(rows)
    assert list(p.price_micros) == [10_000_000, 11_000_000, 12_000_000]
    same_time = [(T, 10.0, 100, "NSDQ"), (T, 11.0, 100, "NSDQ")]
    assert analyze(same_time)["last_price"] == 11.0
    assert analyze(same_time[::-1])["last_price"] == 10.0
    # identical rows are distinct prints
    assert analyze([same_time[0]] * 3)["grpan"]["windows"]["latest"]["print_count"] == 3


def test_seq_orders_equal_times() -> None:
    ts = [pd.Timestamp(T).value] * 3
    p = ticks.TickPrints.from_columns("X", np.array(ts), [1.0, 2.0, 3.0], [100, 100, 100], seq=np.array([2, 0, 1]))
    assert list(p.price_micros) == [2_000_000, 3_000_000, 1_000_000]


def test_venues_missing_and_categorical() -> None:
    p = ticks.TickPrints.from_columns("X", [T, T], [1.0, 1.0], [1, 1], venue=[None, "nsdq"])
    assert [p.venue_names[c] for c in p.venue_codes] == ["", "nsdq"]
    cat = pd.Categorical(["D", None, "ARCA"])
    p2 = ticks.TickPrints.from_columns("X", [T, T, T], [1.0, 1.0, 1.0], [1, 1, 1], venue=cat)
    assert [p2.venue_names[c] for c in p2.venue_codes] == ["D", "", "ARCA"]
    with pytest.raises(ticks.InvalidTicks, match="not a string"):
        ticks.TickPrints.from_columns("X", [T], [1.0], [1], venue=[7])


def test_no_prints_is_an_error() -> None:
    empty = ticks.TickPrints.from_columns("X", np.array([], dtype=np.int64), [], [])
    with pytest.raises(ticks.InvalidTicks, match="no prints"):
        ticks.analyze(empty, session_table(), None, ticks.DeeperAnalysisConfig())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("min_lot", -1),
        ("band", -0.01),
        ("band", 0.0400001),
        ("latest_prints", 0),
        ("latest_prints", 1.5),
        ("top_n", 0),
        ("extreme_multiplier", 0),
        ("extreme_multiplier", float("inf")),
        ("rwvap_min_prints", 0),
        ("srpan_prints", 0),
        ("srpan_min_size", float("nan")),
        ("srpan_min_prints", 31),
        ("srpan_band", -1),
        ("srpan_min_gap", 0),
        ("dark_venues", "D"),
        ("dark_venues", [1]),
        ("min_lot", True),
    ],
)
def test_config_rejects_out_of_range_values(field: str, value: object) -> None:
    with pytest.raises(ticks.InvalidConfig, match=field):
        ticks.DeeperAnalysisConfig(**{field: value})


def test_config_rejects_unknown_fields_and_normalises_venues() -> None:
    with pytest.raises(TypeError):
        ticks.DeeperAnalysisConfig(nope=1)  # type: ignore[call-arg]
    cfg = ticks.DeeperAnalysisConfig(dark_venues=(" d", "D", "trf "))
    assert cfg.dark_venues == ("D", "TRF")
    assert ticks.DeeperAnalysisConfig(**ticks.DeeperAnalysisConfig().to_json()) == ticks.DeeperAnalysisConfig()


def test_result_is_deterministic_strict_json_and_inputs_are_untouched() -> None:
    from .helpers import SCENARIO

    p = prints(SCENARIO)
    before = p.price_micros.copy()
    table = session_table()
    cfg = ticks.DeeperAnalysisConfig()
    first = json.dumps(ticks.analyze(p, table, 400.0, cfg).to_json(), allow_nan=False, sort_keys=True)
    second = json.dumps(ticks.analyze(p, table, 400.0, cfg).to_json(), allow_nan=False, sort_keys=True)
    assert first == second
    assert np.array_equal(before, p.price_micros) and not p.price_micros.flags.writeable
    out = json.loads(first)
    assert list(ticks.analyze(p, table, 400.0, cfg).to_json()["grpan"]["windows"]) == list(ticks.GRPAN_WINDOWS)
    assert set(out) == {"symbol", "god", "rod", "grpan", "rwvap", "srpan", "tick_count", "last_price", "timestamp"}
    assert set(out["rwvap"]["1d"]) == {
        "rwvap",
        "status",
        "print_count",
        "effective_print_count",
        "excluded_print_count",
        "total_volume",
        "effective_volume",
        "excluded_volume",
        "extreme_threshold",
        "deviation_vs_last",
        "sessions",
    }
    assert set(out["srpan"]) == {
        "status",
        "print_count",
        "total_weight",
        "g1",
        "c1",
        "g2",
        "c2",
        "spread",
        "direction",
        "balance_score",
        "total_score",
        "spread_score",
        "score",
    }


def test_exchange_time_keeps_sub_second_precision() -> None:
    base = pd.Timestamp("2024-11-04T14:30:00Z").value  # 09:30 EST
    assert ticks.exchange_time(base) == "2024-11-04T09:30:00-05:00"
    assert ticks.exchange_time(base + 123_456_000) == "2024-11-04T09:30:00.123456-05:00"
    assert ticks.exchange_time(base + 123_456_789) == "2024-11-04T09:30:00.123456789-05:00"
    assert ticks.exchange_time(pd.Timestamp("2024-07-04T12:00:00Z").value) == "2024-07-04T08:00:00-04:00"


def test_caller_arrays_are_copied_not_frozen() -> None:
    ts = np.array([pd.Timestamp(T).value, pd.Timestamp(T).value + 1])
    p = ticks.TickPrints.from_columns("X", ts, np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    assert ts.flags.writeable
    ts[0] = 0  # the caller may reuse its buffer
    assert int(p.ts_ns[0]) == pd.Timestamp(T).value
    with pytest.raises(ticks.InvalidTicks, match="print 1: missing time"):
        ticks.TickPrints.from_columns("X", np.array([1, np.iinfo(np.int64).min]), [1.0, 1.0], [1.0, 1.0])


def test_host_time_zone_does_not_matter(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from .helpers import SCENARIO

    baseline = json.dumps(analyze(SCENARIO, adv=400.0), sort_keys=True)
    try:
        for zone in ("Asia/Tokyo", "America/Los_Angeles", "UTC"):
            monkeypatch.setenv("TZ", zone)
            time.tzset()
            assert json.dumps(analyze(SCENARIO, adv=400.0), sort_keys=True) == baseline, zone
    finally:
        monkeypatch.undo()
        time.tzset()


def test_pure_module_imports_no_quantq_core_and_no_io() -> None:
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(ticks))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    allowed = {"__future__", "dataclasses", "datetime", "math", "numbers", "re", "decimal", "typing", "zoneinfo",
               "collections.abc", "types",
               "numpy", "pandas", "exchange_calendars"}  # fmt: skip
    assert imported <= allowed, imported - allowed
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
    }
    assert not names & {"open", "now", "utcnow", "today", "time", "environ", "getenv", "print"}

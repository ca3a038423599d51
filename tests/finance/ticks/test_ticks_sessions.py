"""Sessions by hand: open/close edges, pre/post market, holidays, early closes, daylight saving."""

from __future__ import annotations

import datetime

import pytest

from quantq.finance import ticks

from .helpers import analyze, prints, window


def _one_day(r: dict) -> tuple[int, list[str]]:
    w = r["rwvap"]["1d"]
    return w["print_count"], w["sessions"]


def test_prints_exactly_at_open_and_close_belong_to_the_session() -> None:
    rows = [
        ("2024-03-08T09:29:59.999999-05:00", 10.0, 100, "NSDQ"),  # pre-market by 1 us: out
        ("2024-03-08T09:30:00-05:00", 10.0, 100, "NSDQ"),  # exactly the open: in
        ("2024-03-08T16:00:00-05:00", 10.0, 100, "NSDQ"),  # exactly the close: in
        ("2024-03-08T16:00:00.000001-05:00", 10.0, 100, "NSDQ"),  # post-market by 1 us: out
    ]
    assert _one_day(analyze(rows)) == (2, ["2024-03-08"])
    assert window(analyze(rows), "1d")["print_count"] == 2


def test_pre_and_post_market_and_weekend_prints_belong_to_no_session() -> None:
    rows = [
        ("2024-03-08T04:00:00-05:00", 10.0, 100, "NSDQ"),  # pre-market
        ("2024-03-08T12:00:00-05:00", 10.0, 100, "NSDQ"),  # session
        ("2024-03-08T19:59:00-05:00", 10.0, 100, "NSDQ"),  # post-market
        ("2024-03-09T12:00:00-05:00", 11.0, 100, "NSDQ"),  # Saturday: last print, no session
    ]
    r = analyze(rows)
    # anchor is Friday (the latest session holding a print), not the Saturday of t_last
    assert _one_day(r) == (1, ["2024-03-08"])
    assert r["last_price"] == 11.0 and r["timestamp"] == "2024-03-09T12:00:00-05:00"
    # the latest window ignores sessions: all four prints
    assert window(r, "latest")["print_count"] == 4


def test_no_session_at_all_empties_every_session_window() -> None:
    rows = [
        ("2024-03-09T12:00:00-05:00", 10.0, 100, "NSDQ"),  # Saturday
        ("2024-03-10T12:00:00-04:00", 10.0, 100, "NSDQ"),  # Sunday (EDT from 02:00)
        ("2024-03-11T08:00:00-04:00", 10.2, 100, "NSDQ"),  # Monday pre-market
    ]
    r = analyze(rows)
    for name in ("1d", "3d"):
        w = window(r, name)
        assert (w["reason"], w["grpan_price"], w["print_count"], w["sessions"]) == ("NO_SESSION", None, 0, []), name
    for name in ("1d", "3d", "5d"):
        w = r["rwvap"][name]
        assert (w["status"], w["rwvap"], w["print_count"], w["sessions"]) == ("INSUFFICIENT_DATA", None, 0, []), name
    assert r["rod"] is None
    # time windows still work: 3h = [05:00, 08:00] EDT holds the Monday print only -> 10.20
    assert window(r, "3h")["grpan_price"] == 10.2
    # GOD from 10m..3h (all 10.20: Monday print alone; 1d/3d null): 10.20 - 10.20
    assert r["god"] == 0.0


def test_anchor_with_only_odd_lots_does_not_fall_back() -> None:
    rows = [
        ("2024-03-07T12:00:00-05:00", 10.0, 100, "NSDQ"),  # Thursday, kept
        ("2024-03-08T12:00:00-05:00", 10.5, 5, "NSDQ"),  # Friday: odd lots only
        ("2024-03-08T12:00:01-05:00", 10.5, 6, "NSDQ"),
        ("2024-03-08T17:00:00-05:00", 10.6, 500, "NSDQ"),  # Friday post-market, kept, no session
    ]
    r = analyze(rows)
    w1 = window(r, "1d")
    assert (w1["reason"], w1["sessions"], w1["grpan_price"]) == ("NO_KEPT_PRINTS", ["2024-03-08"], None)
    w3 = window(r, "3d")
    assert (w3["grpan_price"], w3["print_count"], w3["sessions"]) == (
        10.0,
        1,
        ["2024-03-06", "2024-03-07", "2024-03-08"],
    )
    # RWVAP has no size filter: the two odd lots are used -> COLLECTING (1-4 prints)
    assert (r["rwvap"]["1d"]["status"], r["rwvap"]["1d"]["print_count"]) == ("COLLECTING", 2)


def test_session_windows_skip_holidays_and_include_sessions_without_prints() -> None:
    # Thanksgiving 2024-11-28 is closed; 2024-11-29 closes early at 13:00 EST.
    rows = [
        ("2024-11-25T10:00:00-05:00", 20.0, 100, "NSDQ"),  # Monday: 5th session back
        ("2024-11-27T10:00:00-05:00", 21.0, 100, "NSDQ"),  # Wednesday
        ("2024-11-29T13:00:00-05:00", 22.0, 100, "NSDQ"),  # exactly the early close: in
        ("2024-11-29T13:00:01-05:00", 23.0, 100, "NSDQ"),  # after the early close: out
    ]
    r = analyze(rows)
    assert r["rwvap"]["1d"]["sessions"] == ["2024-11-29"]
    assert r["rwvap"]["1d"]["print_count"] == 1
    # 3d: 11-26 (no prints) and 11-27, not the 11-28 holiday
    assert r["rwvap"]["3d"]["sessions"] == ["2024-11-26", "2024-11-27", "2024-11-29"]
    assert r["rwvap"]["3d"]["print_count"] == 2
    assert r["rwvap"]["5d"]["sessions"] == ["2024-11-22", "2024-11-25", "2024-11-26", "2024-11-27", "2024-11-29"]
    assert r["rwvap"]["5d"]["print_count"] == 3
    assert window(r, "1d")["grpan_price"] == 22.0


def test_spring_forward_session_uses_the_new_offset() -> None:
    # 2024-03-11 is the first session in EDT: open 09:30 EDT = 13:30Z, close 16:00 EDT = 20:00Z.
    # A fixed EST rule (14:30Z-21:00Z) would get both of these wrong.
    rows = [
        ("2024-03-11T13:45:00Z", 10.0, 100, "NSDQ"),  # 09:45 EDT: in
        ("2024-03-11T20:30:00Z", 10.0, 100, "NSDQ"),  # 16:30 EDT: post-market, out
    ]
    r = analyze(rows)
    assert _one_day(r) == (1, ["2024-03-11"])
    assert r["timestamp"] == "2024-03-11T16:30:00-04:00"


def test_fall_back_session_uses_the_new_offset() -> None:
    # 2024-11-04 is the first session in EST: open 09:30 EST = 14:30Z.  14:00Z is 09:00 EST.
    rows = [
        ("2024-11-04T14:00:00Z", 10.0, 100, "NSDQ"),  # pre-market (an EDT rule would say 10:00, in)
        ("2024-11-04T20:59:00Z", 10.0, 100, "NSDQ"),  # 15:59 EST: in
    ]
    assert _one_day(analyze(rows)) == (1, ["2024-11-04"])


def test_time_windows_are_elapsed_time_across_spring_forward() -> None:
    # t_last = Sun 2024-03-10 04:00 EDT = 08:00Z.  3h earlier is 05:00Z = 00:00 EST:
    # three hours elapsed although the wall clock moved four.
    rows = [
        ("2024-03-09T23:59:59-05:00", 9.0, 100, "NSDQ"),  # 3h00m01s before: out of 3h
        ("2024-03-10T00:00:00-05:00", 10.0, 100, "NSDQ"),  # exactly 3h before: in
        ("2024-03-10T04:00:00-04:00", 11.0, 100, "NSDQ"),
    ]
    r = analyze(rows)
    w = window(r, "3h")
    assert w["print_count"] == 2
    assert [t["price"] for t in w["top_prices"]] == [10.0, 11.0]
    assert window(r, "1h")["print_count"] == 1


def test_time_windows_are_elapsed_time_across_fall_back() -> None:
    # 01:30 happens twice on 2024-11-03: first at -04:00 (05:30Z), then at -05:00 (06:30Z).
    rows = [
        ("2024-11-03T00:29:00-04:00", 9.0, 100, "NSDQ"),  # 04:29Z: 2h01m before t_last
        ("2024-11-03T01:30:00-04:00", 10.0, 100, "NSDQ"),  # 05:30Z: exactly 1h before
        ("2024-11-03T01:30:00-05:00", 11.0, 100, "NSDQ"),  # 06:30Z: t_last
    ]
    r = analyze(rows)
    assert window(r, "1h")["print_count"] == 2
    assert window(r, "30m")["print_count"] == 1
    assert window(r, "3h")["print_count"] == 3
    assert r["timestamp"] == "2024-11-03T01:30:00-05:00"


def test_output_time_is_exchange_time_whatever_the_input_offset() -> None:
    r = analyze([("2024-07-01T23:15:00+09:00", 10.0, 100, "NSDQ")])  # Tokyo time = 10:15 EDT
    assert r["timestamp"] == "2024-07-01T10:15:00-04:00"
    assert _one_day(r) == (1, ["2024-07-01"])


def test_session_table_must_cover_the_prints() -> None:
    p = prints([("2024-03-08T10:00:00-05:00", 10.0, 100, "NSDQ")])
    short = ticks.SessionTable.xnys(datetime.date(2024, 3, 8), datetime.date(2024, 3, 8))
    with pytest.raises(ValueError, match="reach back"):
        ticks.analyze(p, short, None, ticks.DeeperAnalysisConfig())
    later = ticks.SessionTable.xnys(datetime.date(2024, 4, 1), datetime.date(2024, 4, 30))
    with pytest.raises(ValueError, match="does not cover"):
        ticks.analyze(p, later, None, ticks.DeeperAnalysisConfig())


def test_three_session_window_across_spring_forward() -> None:
    # 3d anchored on Mon 2024-03-11 (EDT) = Thu 03-07, Fri 03-08 (EST), Mon 03-11; every edge in UTC:
    rows = [
        ("2024-03-07T14:30:00Z", 10.0, 100, "NSDQ"),  # 09:30 EST Thursday: the open, in
        ("2024-03-08T20:59:59Z", 11.0, 100, "NSDQ"),  # 15:59:59 EST Friday: in
        ("2024-03-08T21:00:01Z", 12.0, 100, "NSDQ"),  # 16:00:01 EST Friday: out
        ("2024-03-11T13:29:59Z", 13.0, 100, "NSDQ"),  # 09:29:59 EDT Monday: pre-market, out
        ("2024-03-11T13:30:00Z", 14.0, 100, "NSDQ"),  # 09:30 EDT Monday: the open, in
        ("2024-03-11T20:00:00Z", 15.0, 100, "NSDQ"),  # 16:00 EDT Monday: the close, in
    ]
    r = analyze(rows)
    w = r["rwvap"]["3d"]
    assert (w["sessions"], w["print_count"]) == (["2024-03-07", "2024-03-08", "2024-03-11"], 4)
    assert r["rwvap"]["1d"]["print_count"] == 2  # 14.00 and 15.00
    g = window(r, "3d")
    assert [t["price"] for t in g["top_prices"]] == [10.0, 11.0, 14.0, 15.0]  # ties by last print
    assert r["timestamp"] == "2024-03-11T16:00:00-04:00"

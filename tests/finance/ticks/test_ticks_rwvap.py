"""RWVAP and ROD by hand: session windows, block exclusion at the edge, statuses, ROD's mean."""

from __future__ import annotations

import math

import pytest

from .helpers import SCENARIO, analyze

DAY = "2024-03-08T{}-05:00"


def test_rwvap_windows_without_adv() -> None:
    r = analyze(SCENARIO)  # no ADV: nothing excluded, threshold null
    # 1d = P4..P10 (the 10-share odd lot counts: no size filter)
    #   51*100 + 51*100 + 52*100 + 53*100 + 54*100 + 55*100 + 55.5*10 = 32155 over 610 shares
    # 3d adds P2 (50*500 = 25000) and P3 (50*100 = 5000): 62155 / 1210
    # 5d (03-04 .. 03-08) adds P1 (49*100 = 4900): 67055 / 1310
    expected = {"1d": (32155 / 610, 7, 610.0), "3d": (62155 / 1210, 9, 1210.0), "5d": (67055 / 1310, 10, 1310.0)}
    for name, (value, count, volume) in expected.items():
        w = r["rwvap"][name]
        assert w["status"] == "OK", name
        assert w["rwvap"] == pytest.approx(value, rel=1e-12), name
        assert (w["print_count"], w["effective_print_count"], w["excluded_print_count"]) == (count, count, 0)
        assert (w["total_volume"], w["effective_volume"], w["excluded_volume"]) == (volume, volume, 0.0)
        assert w["extreme_threshold"] is None
        assert w["deviation_vs_last"] == pytest.approx(55.5 - value, rel=1e-12)
    assert r["rwvap"]["5d"]["sessions"] == ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"]
    # ROD = last - mean of the OK windows
    assert r["rod"] == pytest.approx(55.5 - (32155 / 610 + 62155 / 1210 + 67055 / 1310) / 3, rel=1e-12)


def test_rwvap_excludes_blocks_above_adv() -> None:
    r = analyze(SCENARIO, adv=400)  # threshold 1.0 x 400: P2's 500 shares are a block
    w1, w3, w5 = (r["rwvap"][k] for k in ("1d", "3d", "5d"))
    assert w1["rwvap"] == pytest.approx(32155 / 610, rel=1e-12)  # no block in 1d
    assert w1["extreme_threshold"] == 400.0
    # 3d without P2: (62155 - 25000) / (1210 - 500) = 37155 / 710
    assert w3["rwvap"] == pytest.approx(37155 / 710, rel=1e-12)
    assert (w3["print_count"], w3["effective_print_count"], w3["excluded_print_count"]) == (9, 8, 1)
    assert (w3["total_volume"], w3["effective_volume"], w3["excluded_volume"]) == (1210.0, 710.0, 500.0)
    # 5d: (67055 - 25000) / (1310 - 500) = 42055 / 810
    assert w5["rwvap"] == pytest.approx(42055 / 810, rel=1e-12)
    assert r["rod"] == pytest.approx(55.5 - (32155 / 610 + 37155 / 710 + 42055 / 810) / 3, rel=1e-12)


def _five(sizes: list[float]) -> list[tuple[str, float, float, str]]:
    return [(DAY.format(f"10:00:0{i}"), 10.0 + i, s, "NSDQ") for i, s in enumerate(sizes)]


def test_rwvap_block_edge_is_exact() -> None:
    # threshold = 0.29 x 100 = 29 exactly (in float 0.29 * 100 = 28.999999999999996, which would wrongly
    # exclude a 29-share print).  Strictly greater is excluded: 29 stays, 29.000001 goes.
    rows = _five([29, 29.000001, 10, 10, 10])
    w = analyze(rows, adv=100, extreme_multiplier=0.29)["rwvap"]["1d"]
    assert w["extreme_threshold"] == 29.0
    assert (w["excluded_print_count"], w["excluded_volume"]) == (1, 29.000001)
    assert w["status"] == "COLLECTING"  # 4 used < 5
    assert w["rwvap"] is None and w["deviation_vs_last"] is None
    # prices 10, 12, 13, 14 with sizes 29, 10, 10, 10 once rwvap_min_prints allows 4
    w4 = analyze(rows, adv=100, extreme_multiplier=0.29, rwvap_min_prints=4)["rwvap"]["1d"]
    assert w4["rwvap"] == pytest.approx((10 * 29 + 12 * 10 + 13 * 10 + 14 * 10) / 59, rel=1e-12)


@pytest.mark.parametrize("adv", [None, 0.0, -5.0, math.nan])
def test_rwvap_unknown_adv_excludes_nothing(adv: float | None) -> None:
    w = analyze(_five([1e6, 100, 100, 100, 100]), adv=adv)["rwvap"]["1d"]
    assert (w["extreme_threshold"], w["excluded_print_count"], w["status"]) == (None, 0, "OK")
    # (10*1e6 + 11*100 + 12*100 + 13*100 + 14*100) / (1e6 + 400)
    assert w["rwvap"] == pytest.approx((10e6 + 5000) / 1_000_400, rel=1e-12)


def test_rwvap_statuses_by_used_prints() -> None:
    ok = analyze(_five([100] * 5))["rwvap"]["1d"]  # 5 used -> OK
    assert ok["status"] == "OK"
    assert ok["rwvap"] == pytest.approx((10 + 11 + 12 + 13 + 14) / 5, rel=1e-12)
    collecting = analyze(_five([100] * 4))["rwvap"]["1d"]  # 4 -> COLLECTING, counts still reported
    assert (collecting["status"], collecting["rwvap"], collecting["print_count"], collecting["total_volume"]) == (
        "COLLECTING",
        None,
        4,
        400.0,
    )
    # every print a block: none used -> INSUFFICIENT_DATA, with the counts
    none = analyze(_five([500] * 3), adv=100)["rwvap"]["1d"]
    assert (none["status"], none["rwvap"], none["print_count"], none["excluded_print_count"]) == (
        "INSUFFICIENT_DATA",
        None,
        3,
        3,
    )
    assert (none["effective_volume"], none["excluded_volume"]) == (0.0, 1500.0)
    assert analyze(_five([500] * 3), adv=100)["rod"] is None


def test_rod_averages_only_ok_windows() -> None:
    # Thursday 5 prints at 20.00; Friday 2 prints at 30.00: 1d COLLECTING (2), 3d and 5d OK.
    rows = [(f"2024-03-07T10:00:0{i}-05:00", 20.0, 100, "NSDQ") for i in range(5)]
    rows += [(DAY.format("10:00:00"), 30.0, 100, "NSDQ"), (DAY.format("10:00:01"), 30.0, 100, "NSDQ")]
    r = analyze(rows)
    assert r["rwvap"]["1d"]["status"] == "COLLECTING"
    # 3d = 5d = (5*20*100 + 2*30*100) / 700 = 16000 / 700
    assert r["rwvap"]["3d"]["rwvap"] == pytest.approx(16000 / 700, rel=1e-12)
    assert r["rod"] == pytest.approx(30.0 - 16000 / 700, rel=1e-12)


def test_single_print() -> None:
    r = analyze([(DAY.format("10:00:00"), 12.34, 100, "NSDQ")])
    for name in ("latest", "10m", "30m", "1h", "3h", "1d", "3d"):
        w = r["grpan"]["windows"][name]
        assert (w["grpan_price"], w["concentration_percent"], w["deviation_vs_last"]) == (12.34, 100.0, 0.0), name
    assert r["god"] == 0.0
    assert r["rwvap"]["1d"]["status"] == "COLLECTING" and r["rod"] is None
    assert (r["srpan"]["status"], r["srpan"]["print_count"]) == ("INSUFFICIENT_DATA", 1)
    assert (r["tick_count"], r["last_price"]) == (1, 12.34)

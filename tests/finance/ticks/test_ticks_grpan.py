"""GRPAN by hand: weights, odd lots, dark venues, ties, band edges, every window and its order."""

from __future__ import annotations

import pytest

from .helpers import SCENARIO, analyze, top, window

# A Friday in EST (UTC-05:00); the session is 09:30-16:00.
DAY = "2024-03-08T{}-05:00"


def test_grpan_weights_lit_and_dark_venues() -> None:
    # one print per price so each top_prices weight is that print's weight
    rows = [
        (DAY.format("10:00:00"), 10.01, 100, "NSDQ"),  # lit: 1.0 whatever the size
        (DAY.format("10:00:01"), 10.02, 37, "ARCA"),  # lit odd size: still 1.0
        (DAY.format("10:00:02"), 10.03, 100, " d "),  # dark after trim/upper ("D"), exactly 100 -> 1.0
        (DAY.format("10:00:03"), 10.04, 200, "finra"),  # dark, exactly 200 -> 1.0
        (DAY.format("10:00:04"), 10.05, 300, "TRF"),  # dark, >= 300 and multiple of 100 -> 0.4
        (DAY.format("10:00:05"), 10.06, 1000, "ADF"),  # dark, multiple of 100 -> 0.4
        (DAY.format("10:00:06"), 10.07, 250, "ADFN"),  # dark, not a multiple of 100 -> 0.2
        (DAY.format("10:00:07"), 10.08, 150, ""),  # empty venue is dark -> 0.2
        (DAY.format("10:00:08"), 10.09, 100.5, None),  # missing venue is "" (dark), not exactly 100 -> 0.2
        (DAY.format("10:00:09"), 10.10, 20, "UNKNOWN"),  # dark, small -> 0.2
        (DAY.format("10:00:10"), 10.11, 300, "TRFX"),  # not in the list: lit -> 1.0
        (DAY.format("10:00:11"), 10.12, 400, "fnra"),  # dark, 400 -> 0.4
    ]
    r = analyze(rows, top_n=20)
    # ranking: weight descending, ties -> the price whose last print comes first (time order)
    assert top(r, "latest") == [
        (10.01, 1.0),
        (10.02, 1.0),
        (10.03, 1.0),
        (10.04, 1.0),
        (10.11, 1.0),
        (10.05, 0.4),
        (10.06, 0.4),
        (10.12, 0.4),
        (10.07, 0.2),
        (10.08, 0.2),
        (10.09, 0.2),
        (10.10, 0.2),
    ]
    latest = window(r, "latest")
    assert latest["grpan_price"] == 10.01
    assert latest["print_count"] == 12
    # 100+37+100+200+300+1000+250+150+100.5+20+300+400 = 2957.5
    assert latest["volume"] == 2957.5


def test_grpan_custom_dark_venue_list_replaces_the_default() -> None:
    rows = [
        (DAY.format("10:00:00"), 10.00, 300, "D"),  # D is lit once the list is only ["XDRK"]
        (DAY.format("10:00:01"), 10.10, 300, "xdrk "),  # dark: 0.4
    ]
    r = analyze(rows, dark_venues=["XDRK"])
    assert top(r, "latest") == [(10.00, 1.0), (10.10, 0.4)]


def test_grpan_tie_goes_to_the_price_whose_last_print_comes_first() -> None:
    # 10.00: lit 1.0 + dark 50 (0.2) = 1.2 (fifths: 5 + 1 = 6)
    # 10.10: three dark 300s, 0.4 each = 1.2 (fifths: 2 + 2 + 2 = 6) -> an exact tie.
    # In float, 0.4+0.4+0.4 = 1.2000000000000002 > 1.2, so a float sum would pick 10.10.
    # 10.00's last print (10:00:01) comes before 10.10's last (10:00:04): 10.00 wins.
    rows = [
        (DAY.format("10:00:00"), 10.00, 100, "NSDQ"),
        (DAY.format("10:00:01"), 10.00, 50, "D"),
        (DAY.format("10:00:02"), 10.10, 300, "D"),
        (DAY.format("10:00:03"), 10.10, 300, "D"),
        (DAY.format("10:00:04"), 10.10, 300, "D"),
    ]
    r = analyze(rows)
    assert window(r, "latest")["grpan_price"] == 10.00
    assert top(r, "latest") == [(10.00, 1.2), (10.10, 1.2)]
    # the tie is on the last print, not the first: move one 10.00 print after all 10.10 prints
    rows2 = rows[:1] + rows[2:] + [(DAY.format("10:00:05"), 10.00, 50, "D")]
    assert window(analyze(rows2), "latest")["grpan_price"] == 10.10


def test_grpan_odd_lots_are_dropped_and_min_lot_is_inclusive() -> None:
    rows = [
        (DAY.format("10:00:00"), 10.00, 20, "NSDQ"),  # exactly min_lot: kept
        (DAY.format("10:00:01"), 11.00, 19.999999, "NSDQ"),  # below: dropped
        (DAY.format("10:00:02"), 11.00, 19, "NSDQ"),  # dropped
        (DAY.format("10:00:03"), 11.00, 1, "NSDQ"),  # dropped (and the last print)
    ]
    r = analyze(rows)
    w = window(r, "latest")
    assert (w["grpan_price"], w["print_count"], w["volume"]) == (10.00, 1, 20.0)
    assert r["last_price"] == 11.00  # last print of any size
    assert w["deviation_vs_last"] == 1.0  # 11.00 - 10.00
    # min_lot 19 keeps the 19 and the 19.999999 too: 11.00 has 2 x 1.0 vs 10.00's 1.0
    assert window(analyze(rows, min_lot=19), "latest")["grpan_price"] == 11.00


def test_grpan_only_odd_lots_gives_no_kept_prints_everywhere() -> None:
    rows = [(DAY.format("10:00:00"), 10.00, 5, "NSDQ"), (DAY.format("10:01:00"), 10.01, 10, "NSDQ")]
    r = analyze(rows)
    for name in ("latest", "10m", "30m", "1h", "3h", "1d", "3d"):
        w = window(r, name)
        assert w["reason"] == "NO_KEPT_PRINTS", name
        assert (w["grpan_price"], w["concentration_percent"], w["deviation_vs_last"]) == (None, None, None)
        assert (w["deviation_vs_prev_window"], w["print_count"], w["volume"], w["top_prices"]) == (None, 0, 0.0, [])
    assert r["grpan"]["value"] is None
    assert r["god"] is None


def test_grpan_concentration_band_is_inclusive_and_exact() -> None:
    # grpan 10.05 (three lit prints); band 0.04 -> [10.01, 10.09] counts, exactly at both edges.
    # In float, 10.09 - 10.05 = 0.040000000000000924 > 0.04: the exact test must still count it.
    rows = [
        (DAY.format("10:00:00"), 10.05, 100, "NSDQ"),
        (DAY.format("10:00:01"), 10.05, 100, "NSDQ"),
        (DAY.format("10:00:02"), 10.05, 100, "NSDQ"),
        (DAY.format("10:00:03"), 10.01, 100, "NSDQ"),  # |-0.04| <= 0.04: in
        (DAY.format("10:00:04"), 10.09, 100, "NSDQ"),  # 0.04: in
        (DAY.format("10:00:05"), 10.00, 100, "NSDQ"),  # 0.05: out
        (DAY.format("10:00:06"), 10.10, 100, "NSDQ"),  # 0.05: out
        (DAY.format("10:00:07"), 10.049999, 100, "NSDQ"),  # 0.000001: in (exact price, no rounding)
    ]
    w = window(analyze(rows), "latest")
    assert w["grpan_price"] == 10.05
    assert w["concentration_percent"] == pytest.approx(100 * 6 / 8)  # 3 + 10.01 + 10.09 + 10.049999
    # a band of 0.039999 drops both edge prints: (3 + 1) / 8
    assert window(analyze(rows, band=0.039999), "latest")["concentration_percent"] == pytest.approx(100 * 4 / 8)


def test_grpan_concentration_is_a_count_share_not_a_weight_share() -> None:
    # 10.00: one lit print (1.0); 10.50: four dark odd prints (0.2 each = 0.8) -> grpan 10.00
    rows = [(DAY.format("10:00:00"), 10.00, 100, "NSDQ")] + [
        (DAY.format(f"10:00:0{i}"), 10.50, 50, "D") for i in range(1, 5)
    ]
    w = window(analyze(rows), "latest")
    assert w["grpan_price"] == 10.00
    assert w["concentration_percent"] == pytest.approx(20.0)  # 1 of 5 kept prints


def test_grpan_latest_takes_the_last_kept_prints_of_the_whole_history() -> None:
    # 20 kept prints over two days; latest_prints 15 keeps the last 15; odd lots are skipped, not counted
    rows = [(f"2024-03-07T1{i // 10}:0{i % 10}:00-05:00", 20.00, 100, "NSDQ") for i in range(5)]  # oldest 5
    rows += [(DAY.format(f"11:{i:02d}:00"), 21.00, 100, "NSDQ") for i in range(15)]
    rows += [(DAY.format("17:30:00"), 25.00, 5, "NSDQ")]  # post-market odd lot: last print
    r = analyze(rows)
    w = window(r, "latest")
    assert (w["grpan_price"], w["print_count"], w["volume"]) == (21.00, 15, 1500.0)
    assert w["deviation_vs_last"] == 4.0  # 25.00 - 21.00
    # latest_prints 16 reaches one 20.00 print: 21.00 still heaviest (15 vs 1)
    w16 = window(analyze(rows, latest_prints=16), "latest")
    assert w16["print_count"] == 16 and top(analyze(rows, latest_prints=16), "latest") == [(21.0, 15.0), (20.0, 1.0)]


def test_grpan_top_prices_limited_to_top_n() -> None:
    rows = [(DAY.format(f"10:00:0{i}"), 10.0 + i / 100, 100 * (1 + (i == 3)), "NSDQ") for i in range(7)]
    r = analyze(rows, top_n=2)
    # all weights 1.0 (lit); ties by last print: 10.00 first; the 200-lot is still weight 1.0 on a lit venue
    assert top(r, "latest") == [(10.00, 1.0), (10.01, 1.0)]


def test_grpan_every_window_and_deviation_vs_prev_window() -> None:
    r = analyze(SCENARIO)
    expected = {
        # latest: P1..P9 all weight 1; 50.00 (P2,P3) and 51.00 (P4,P5) tie at 2; 50's last print P3 is first
        "latest": (50.00, 9, 1300.0, None),
        "10m": (55.00, 1, 100.0, 55.00 - 50.00),  # P9 only
        "30m": (54.00, 2, 200.0, -1.0),  # P8, P9 tie at 1: P8 first
        "1h": (53.00, 3, 300.0, -1.0),  # P7..P9
        "3h": (52.00, 4, 400.0, -1.0),  # P6..P9
        "1d": (51.00, 6, 600.0, -1.0),  # P4..P9: 51.00 has 2
        "3d": (50.00, 8, 1200.0, -1.0),  # P2..P9: 50 and 51 tie at 2, 50's last (P3) first
    }
    for name, (price, count, volume, dev_prev) in expected.items():
        w = window(r, name)
        assert (w["grpan_price"], w["print_count"], w["volume"], w["reason"]) == (price, count, volume, None), name
        assert w["deviation_vs_prev_window"] == dev_prev, name
        assert w["deviation_vs_last"] == 55.50 - price, name
    assert r["grpan"]["value"] == 50.00
    assert window(r, "1d")["sessions"] == ["2024-03-08"]
    assert window(r, "3d")["sessions"] == ["2024-03-06", "2024-03-07", "2024-03-08"]
    assert "sessions" not in window(r, "10m") and "sessions" not in window(r, "latest")
    # 1d concentration: 6 kept prints, within 0.04 of 51.00: P4, P5 -> 2/6
    assert window(r, "1d")["concentration_percent"] == pytest.approx(100 * 2 / 6)
    # GOD = 55.50 - mean(55, 54, 53, 52, 51, 50) = 55.50 - 52.5 = 3.0 (latest is not in the mean)
    assert r["god"] == 3.0
    assert r["timestamp"] == "2024-03-08T15:00:00-05:00"
    assert r["tick_count"] == 10


def test_grpan_deviation_vs_prev_window_skips_empty_windows() -> None:
    # last print at 15:00 is an odd lot; the only kept prints are at 11:00 -> 10m/30m/1h empty,
    # 3h = [12:00, 15:00] empty too; 1d has them.  1d's previous window with a value is `latest`.
    rows = [
        (DAY.format("11:00:00"), 30.00, 100, "NSDQ"),
        (DAY.format("11:00:01"), 30.10, 100, "NSDQ"),
        (DAY.format("11:00:02"), 30.10, 100, "NSDQ"),
        (DAY.format("15:00:00"), 31.00, 1, "NSDQ"),
    ]
    r = analyze(rows, latest_prints=1)  # latest = the 11:00:02 print only -> 30.10
    assert window(r, "latest")["grpan_price"] == 30.10
    for name in ("10m", "30m", "1h", "3h"):
        assert window(r, name)["reason"] == "NO_KEPT_PRINTS", name
        assert window(r, name)["deviation_vs_prev_window"] is None
    assert window(r, "1d")["grpan_price"] == 30.10  # 2 x 1.0 vs 1.0
    assert window(r, "1d")["deviation_vs_prev_window"] == 0.0  # 30.10 - latest 30.10
    # GOD: only 1d and 3d have values (both 30.10): 31.00 - 30.10
    assert r["god"] == pytest.approx(0.9, abs=1e-12)

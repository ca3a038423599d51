"""SRPAN by hand: half-up cents, quarter weights, G1/G2 ties, band and gap edges, statuses, scores."""

from __future__ import annotations

import pytest

from .helpers import analyze


def _rows(spec: list[tuple[float, float]], venue: str = "NSDQ") -> list[tuple[str, float, float, str]]:
    return [(f"2024-03-08T10:{i // 60:02d}:{i % 60:02d}-05:00", p, s, venue) for i, (p, s) in enumerate(spec)]


# price -> cents half up, weight in quarters (size 100/200/300 -> 4, else 1)
MAIN = [
    (10.045, 100),  # 10.05 (binary rounding of 10.045 gives 10.04), 4
    (10.05, 200),  # 10.05, 4
    (10.054, 150),  # 10.05, 1
    (10.07, 100),  # 10.07, 4: 2 cents from G1, inside the band
    (10.12, 300),  # 10.12, 4: candidate (7 cents)
    (10.125, 100),  # 10.13 half up (Python round() gives 10.12), 4
    (10.13, 50),  # 10.13, 1
    (10.08, 100),  # 10.08, 4: exactly 3 cents from G1, band edge -> in c1
    (10.15, 100),  # 10.15, 4: candidate
    (10.11, 75),  # 10.11, 1: exactly 6 cents from G1 -> candidate (float 10.11 - 10.05 < 0.06)
    (9.99, 5),  # size < 10: not eligible
]


def test_srpan_ok_up() -> None:
    s = analyze(_rows(MAIN))["srpan"]
    # quarters: 10.05: 4+4+1 = 9, 10.07: 4, 10.08: 4, 10.11: 1, 10.12: 4, 10.13: 4+1 = 5, 10.15: 4 -> total 31
    assert (s["status"], s["print_count"], s["total_weight"]) == ("OK", 10, 7.75)
    assert s["g1"] == 10.05
    # c1: 10.05, 10.07, 10.08 within 3 cents: 9 + 4 + 4 = 17 of 31
    assert s["c1"] == pytest.approx(100 * 17 / 31, rel=1e-12)
    # candidates >= 6 cents from 10.05: 10.11 (1), 10.12 (4), 10.13 (5), 10.15 (4) -> G2 = 10.13
    assert (s["g2"], s["spread"], s["direction"]) == (10.13, 0.08, "UP")
    # c2: candidates within 3 cents of 10.13: 10.11, 10.12, 10.13, 10.15: 1 + 4 + 5 + 4 = 14 of 31
    assert s["c2"] == pytest.approx(100 * 14 / 31, rel=1e-12)
    balance = 100 - (1700 / 31 - 1400 / 31)  # 100 - 300/31
    spread_score = 100 * (0.08 - 0.06) / 0.24  # 8.333...
    assert s["balance_score"] == pytest.approx(balance, rel=1e-12)
    assert s["total_score"] == pytest.approx(100.0, rel=1e-12)  # min(100, 1700/31 + 1400/31)
    assert s["spread_score"] == pytest.approx(spread_score, rel=1e-12)
    assert s["score"] == pytest.approx(0.6 * balance + 0.15 * 100 + 0.25 * spread_score, rel=1e-12)


def test_srpan_ok_down_with_exactly_min_prints() -> None:
    spec = [(20.00, 100)] * 3 + [(19.90, 100)] * 2 + [(19.91, 100)] + [(20.01, 100)] * 2  # 8 prints
    s = analyze(_rows(spec))["srpan"]
    # quarters: 20.00: 12, 20.01: 8, 19.90: 8, 19.91: 4 -> total 32; G1 20.00
    # c1 = (12 + 8) / 32 = 62.5; candidates 19.90 (10 cents), 19.91 (9): G2 19.90; c2 = (8 + 4) / 32 = 37.5
    assert (s["status"], s["g1"], s["g2"], s["direction"], s["spread"]) == ("OK", 20.0, 19.9, "DOWN", 0.1)
    assert (s["c1"], s["c2"], s["balance_score"], s["total_score"]) == (62.5, 37.5, 75.0, 100.0)
    assert s["spread_score"] == pytest.approx(100 * 0.04 / 0.24, rel=1e-12)
    assert s["score"] == pytest.approx(0.6 * 75 + 0.15 * 100 + 0.25 * (100 * 0.04 / 0.24), rel=1e-12)


def test_srpan_ties_go_to_the_price_whose_last_print_comes_first() -> None:
    # 30.00 and 30.50 both 8 quarters; 30.00's last print is earlier -> G1 30.00 (so G2 30.50, UP).
    # 29.00 and 29.50 tie at 4 as candidates; 29.50's last print is earlier -> it would beat 29.00,
    # but 30.50 (8) is heavier than both.
    spec = [(30.00, 100), (30.50, 100), (29.50, 100), (30.00, 100), (29.00, 100), (30.50, 100), (31.0, 10), (31.0, 10)]
    s = analyze(_rows(spec))["srpan"]
    assert (s["g1"], s["g2"], s["direction"]) == (30.0, 30.5, "UP")
    # swap the order of the last two of the pair: 30.50's last print now comes first
    spec2 = [(30.00, 100), (30.50, 100), (29.50, 100), (30.50, 100), (29.00, 100), (30.00, 100), (31.0, 10), (31.0, 10)]
    s2 = analyze(_rows(spec2))["srpan"]
    assert (s2["g1"], s2["g2"], s2["direction"]) == (30.5, 30.0, "DOWN")


def test_srpan_no_g2() -> None:
    spec = [(10.00, 100)] * 4 + [(10.05, 250)] * 4  # 10.05 is only 5 cents away: no candidate
    s = analyze(_rows(spec))["srpan"]
    # quarters: 10.00: 16, 10.05: 4 -> total 20 = 5.0; c1 = 16/20 (10.05 is outside the 3-cent band)
    assert (s["status"], s["print_count"], s["total_weight"], s["g1"], s["c1"]) == ("NO_G2", 8, 5.0, 10.0, 80.0)
    assert (s["g2"], s["c2"], s["spread"], s["direction"]) == (None, None, None, None)
    assert (s["balance_score"], s["total_score"], s["spread_score"], s["score"]) == (0.0, 0.0, 0.0, 0.0)


def test_srpan_identical_prices() -> None:
    s = analyze(_rows([(42.42, 100)] * 9))["srpan"]
    assert (s["status"], s["g1"], s["c1"], s["total_weight"]) == ("NO_G2", 42.42, 100.0, 9.0)


def test_srpan_insufficient_data_counts_eligible_prints() -> None:
    spec = [(10.0, 100)] * 7 + [(11.0, 9.999999)] * 3  # 7 eligible (size >= 10), 3 too small
    s = analyze(_rows(spec))["srpan"]
    assert (s["status"], s["print_count"]) == ("INSUFFICIENT_DATA", 7)
    for key in ("total_weight", "g1", "c1", "g2", "c2", "spread", "direction"):
        assert s[key] is None, key
    assert (s["balance_score"], s["total_score"], s["spread_score"], s["score"]) == (0.0, 0.0, 0.0, 0.0)
    # srpan_min_size is inclusive: at 9.999999 all 10 are eligible -> enough; 11.00 (3 x 0.25) is G2
    s2 = analyze(_rows(spec), srpan_min_size=9.999999)["srpan"]
    assert (s2["status"], s2["print_count"], s2["g1"], s2["g2"], s2["total_weight"]) == ("OK", 10, 10.0, 11.0, 7.75)


def test_srpan_uses_only_the_last_prints_and_clamps_the_spread_score() -> None:
    spec = [(30.00, 100)] * 5 + [(31.00, 100)] * 10 + [(31.50, 150)] * 20  # 35 eligible; the 30.00s are the oldest
    s = analyze(_rows(spec))["srpan"]
    # last 30: 31.00: 40 quarters, 31.50: 20 -> total 60 = 15.0; c1 = 40/60, c2 = 20/60
    assert (s["print_count"], s["total_weight"], s["g1"], s["g2"]) == (30, 15.0, 31.0, 31.5)
    assert s["c1"] == pytest.approx(200 / 3, rel=1e-12) and s["c2"] == pytest.approx(100 / 3, rel=1e-12)
    # spread 0.50 -> 100 * (0.50 - 0.06) / 0.24 = 183.3 -> clamped to 100
    assert s["spread_score"] == 100.0
    # 0.6 * (100 - 100/3) + 0.15 * 100 + 0.25 * 100 = 40 + 15 + 25 = 80
    assert s["score"] == pytest.approx(80.0, rel=1e-12)
    # with srpan_prints 35 the 30.00s (20 quarters) tie 31.50 (20) as candidates; 30.00's last print is first
    s35 = analyze(_rows(spec), srpan_prints=35)["srpan"]
    assert (s35["g2"], s35["direction"]) == (30.0, "DOWN")


def test_srpan_weights_ignore_venues_and_count_300_as_full() -> None:
    # GRPAN would weight a dark 300 as 0.4; SRPAN gives 1.0 to 100/200/300 and 0.25 to anything else
    spec = [(10.00, 300)] * 4 + [(10.20, 400)] * 4  # dark venue for all
    s = analyze(_rows(spec, venue="D"))["srpan"]
    # 10.00: 4 x 4 = 16 quarters, 10.20: 4 x 1 = 4 -> total 5.0; c1 = 80, c2 = 20, spread 0.20
    assert (s["g1"], s["g2"], s["total_weight"], s["c1"], s["c2"]) == (10.0, 10.2, 5.0, 80.0, 20.0)
    assert s["spread_score"] == pytest.approx(100 * (0.20 - 0.06) / 0.24, rel=1e-12)


def test_srpan_band_and_gap_overrides() -> None:
    spec = [(10.00, 100)] * 4 + [(10.05, 100)] * 2 + [(10.10, 100)] * 2
    # default gap 0.06: candidates 10.10 only (10.05 is 5 cents) -> G2 10.10; c2 counts 10.10 and not 10.05
    s = analyze(_rows(spec))["srpan"]
    assert (s["g2"], s["c2"]) == (10.1, 25.0)
    # gap 0.05: 10.05 and 10.10 tie at 8 quarters, 10.05's last print first -> G2 10.05; band 0.05 -> c2
    # counts candidates within 5 cents of 10.05: 10.05 and 10.10 -> 16/32
    s2 = analyze(_rows(spec), srpan_min_gap=0.05, srpan_band=0.05)["srpan"]
    assert (s2["g2"], s2["c2"], s2["c1"]) == (10.05, 50.0, 75.0)  # c1: 10.00 and 10.05 within 5 cents
    # spread_score starts at the configured gap: 100 * (0.05 - 0.05) / 0.24 = 0
    assert s2["spread_score"] == 0.0

"""The vectorised analysis agrees with a plain-Python, exact-Decimal reference written from the spec."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantq.finance import ticks

from .helpers import session_table

BASE = pd.Timestamp("2024-03-04T04:00:00-05:00").value  # Monday pre-market; spans the DST change
NS = 1_000_000_000
DARK = {"", "UNKNOWN", "FNRA", "FINRA", "ADF", "ADFN", "TRF", "D"}


def _grpan_weight(size: Decimal, venue: str | None) -> Fraction:
    if (venue or "").strip().upper() not in DARK:
        return Fraction(1)
    if size in (100, 200):
        return Fraction(1)
    if size >= 300 and size % 100 == 0:
        return Fraction(2, 5)
    return Fraction(1, 5)


def _heaviest(items: list[tuple[Any, Fraction]]) -> list[tuple[Any, Fraction]]:
    totals: dict[Any, Fraction] = {}
    last: dict[Any, int] = {}
    for i, (key, w) in enumerate(items):
        totals[key] = totals.get(key, Fraction(0)) + w
        last[key] = i
    return sorted(totals.items(), key=lambda kv: (-kv[1], last[kv[0]]))


def _reference(rows: list[tuple[int, Decimal, Decimal, str | None]], adv: float | None) -> dict[str, Any]:
    table = session_table()
    rows = sorted(rows, key=lambda r: r[0])  # stable
    t_last, last = rows[-1][0], rows[-1][1]

    def session_of(t: int) -> int | None:
        for k, (o, c) in enumerate(zip(table.opens_ns.tolist(), table.closes_ns.tolist(), strict=True)):
            if o <= t <= c:
                return k
        return None

    sess = [session_of(r[0]) for r in rows]
    anchor = max((s for s in sess if s is not None), default=None)
    kept = [i for i, r in enumerate(rows) if r[2] >= 20]

    def grpan(idx: list[int]) -> dict[str, Any] | None:
        if not idx:
            return None
        ranked = _heaviest([(rows[i][1], _grpan_weight(rows[i][2], rows[i][3])) for i in idx])
        g = ranked[0][0]
        near = sum(1 for i in idx if abs(rows[i][1] - g) <= Decimal("0.04"))
        return {
            "g": g,
            "conc": 100 * near / len(idx),
            "n": len(idx),
            "vol": sum(rows[i][2] for i in idx),
            "top": [(float(p), float(w)) for p, w in ranked[:5]],
        }

    def in_sessions(i: int, n: int) -> bool:
        return anchor is not None and sess[i] is not None and anchor - n < sess[i] <= anchor

    out: dict[str, Any] = {"grpan": {}}
    out["grpan"]["latest"] = grpan(kept[-15:])
    for name, secs in {"10m": 600, "30m": 1800, "1h": 3600, "3h": 10800}.items():
        out["grpan"][name] = grpan([i for i in kept if rows[i][0] >= t_last - secs * NS])
    for name, n in (("1d", 1), ("3d", 3)):
        out["grpan"][name] = grpan([i for i in kept if in_sessions(i, n)])
    gs = [out["grpan"][w]["g"] for w in ("10m", "30m", "1h", "3h", "1d", "3d") if out["grpan"][w] is not None]
    out["god"] = last - sum(gs) / len(gs) if gs else None
    out["rwvap"] = {}
    for name, n in (("1d", 1), ("3d", 3), ("5d", 5)):
        idx = [i for i in range(len(rows)) if in_sessions(i, n)]
        if adv is not None and adv > 0:
            idx = [i for i in idx if not rows[i][2] > Decimal(repr(adv))]
        out["rwvap"][name] = (
            sum(rows[i][1] * rows[i][2] for i in idx) / sum(rows[i][2] for i in idx) if len(idx) >= 5 else None
        )
    oks = [v for v in out["rwvap"].values() if v is not None]
    out["rod"] = last - sum(oks) / len(oks) if oks else None
    elig = [r for r in rows if r[2] >= 10][-30:]
    out["srpan"] = None
    if len(elig) >= 8:
        cents = [(r[1] * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP) for r in elig]
        ws = [Fraction(1) if r[2] in (100, 200, 300) else Fraction(1, 4) for r in elig]
        ranked = _heaviest(list(zip(cents, ws, strict=True)))
        total = sum(ws)
        g1 = ranked[0][0]
        c1 = 100 * sum(w for p, w in ranked if abs(p - g1) <= 3) / total
        cand = [(p, w) for p, w in ranked if abs(p - g1) >= 6]
        srpan: dict[str, Any] = {"g1": g1 / 100, "c1": c1, "total": total}
        if cand:
            g2 = cand[0][0]
            srpan["g2"] = g2 / 100
            srpan["c2"] = 100 * sum(w for p, w in cand if abs(p - g2) <= 3) / total
        out["srpan"] = srpan
    return out


prices = st.integers(min_value=995, max_value=1010).map(lambda c: Decimal(c) / 100) | st.sampled_from(
    [Decimal("10.045"), Decimal("10.055"), Decimal("9.999999"), Decimal("10.0050")]
)
sizes = st.sampled_from([Decimal(s) for s in ("100", "200", "300", "400", "50", "19", "20", "150.5", "1000", "10")])
venues = st.sampled_from(["NSDQ", "ARCA", "D", " d ", "", None, "FINRA", "TRFX"])
offsets = (
    st.integers(min_value=0, max_value=9 * 86_400)
    | st.sampled_from([7 * 86_400 + k * 600 for k in range(25)])
    | st.integers(min_value=7 * 86_400, max_value=7 * 86_400 + 4 * 3600)
)
row = st.tuples(offsets, prices, sizes, venues)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, min_size=1, max_size=60), st.sampled_from([None, 250.0, 1000.0]))
def test_vectorised_analysis_matches_the_reference(
    raw: list[tuple[int, Decimal, Decimal, str | None]], adv: float | None
) -> None:
    rows = [(BASE + o * NS, p, s, v) for o, p, s, v in raw]
    p = ticks.TickPrints.from_columns(
        "REF",
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([float(r[1]) for r in rows]),
        np.array([float(r[2]) for r in rows]),
        [r[3] for r in rows],
    )
    got = ticks.analyze(p, session_table(), adv, ticks.DeeperAnalysisConfig()).to_json()
    want = _reference(rows, adv)
    for name in ticks.GRPAN_WINDOWS:
        w, ref = got["grpan"]["windows"][name], want["grpan"][name]
        if ref is None:
            assert w["grpan_price"] is None and w["print_count"] == 0, name
            continue
        assert w["grpan_price"] == float(ref["g"]), name
        assert w["concentration_percent"] == pytest.approx(float(ref["conc"]), rel=1e-12), name
        assert (w["print_count"], w["volume"]) == (ref["n"], float(ref["vol"])), name
        assert [(t["price"], t["weight"]) for t in w["top_prices"]] == ref["top"], name
    for key in ("god", "rod"):
        if want[key] is None:
            assert got[key] is None, key
        else:
            assert got[key] == pytest.approx(float(want[key]), rel=1e-9, abs=1e-12), key
    for name, value in want["rwvap"].items():
        if value is None:
            assert got["rwvap"][name]["rwvap"] is None, name
        else:
            assert got["rwvap"][name]["rwvap"] == pytest.approx(float(value), rel=1e-12), name
    s, ref_s = got["srpan"], want["srpan"]
    if ref_s is None:
        assert s["status"] == "INSUFFICIENT_DATA"
    else:
        assert (s["g1"], s["total_weight"]) == (float(ref_s["g1"]), float(ref_s["total"]))
        assert s["c1"] == pytest.approx(float(ref_s["c1"]), rel=1e-12)
        if "g2" in ref_s:
            assert (s["status"], s["g2"]) == ("OK", float(ref_s["g2"]))
            assert s["c2"] == pytest.approx(float(ref_s["c2"]), rel=1e-12)
        else:
            assert s["status"] == "NO_G2"

"""Property test: the vectorised, chunked importer agrees with a plain row-by-row reference."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantq.finance.data.importers import ImportOptions, import_file
from quantq.finance.data.store import MarketStore

DAY0 = np.datetime64("2020-01-01")

row = st.tuples(
    st.integers(0, 40),  # day offset: repeats and decreases happen
    st.sampled_from(["10", "11", "9", "-1", "", "x", "10.5", "0"]),  # open
    st.sampled_from(["11", "12", "9"]),  # high
    st.sampled_from(["9", "8", "12"]),  # low
    st.sampled_from(["10", "10.5", "", "13"]),  # close
    st.sampled_from(["100", "0", "-5", ""]),  # volume
)


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def reference(rows: list[tuple]) -> tuple[set[int], list[str]]:
    """Rejected data-row numbers and accepted dates, one row at a time."""
    rejected, accepted, last = set(), [], None
    for n, (day, o, h, lo, c, v) in enumerate(rows, start=1):
        vals = [_num(x) for x in (o, h, lo, c)]
        vol = _num(v)
        bad = any(x is None or not math.isfinite(x) or x <= 0 for x in vals) or vol is None or vol < 0
        if not bad:
            o_, h_, l_, c_ = vals
            bad = h_ < l_ or not (l_ <= o_ <= h_) or not (l_ <= c_ <= h_)
        if not bad and last is not None and day <= last:
            bad = True
        if bad:
            rejected.add(n)
        else:
            accepted.append(str(DAY0 + day))
            last = day
    return rejected, accepted


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, min_size=1, max_size=60), chunk=st.integers(100, 140))
def test_importer_matches_reference(rows: list[tuple], chunk: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "P_prop.csv"
        lines = [f"{DAY0 + d},{o},{h},{lo},{c},{v}" for d, o, h, lo, c, v in rows]
        # pad to several chunks with good rows far in the future, so chunk edges fall inside the data
        pad = [f"{DAY0 + 1000 + i},10,11,9,10,1" for i in range(250)]
        path.write_text("date,open,high,low,close,volume\n" + "\n".join(lines + pad) + "\n")
        store = MarketStore.open(Path(tmp) / "s")
        report = import_file(store, path, ImportOptions(skip_invalid=True, chunk_rows=chunk))
        want_rejected, want_dates = reference(rows)
        assert {r.row for r in report.rejects} == want_rejected
        got = [str(t)[:10] for t in store.read_bars("P").ts] if report.committed else []
        assert got == want_dates + [str(DAY0 + 1000 + i) for i in range(250)]

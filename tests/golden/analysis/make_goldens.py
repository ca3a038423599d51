"""Regenerate the analysis golden files (run by hand; tests only read the outputs).

    .venv/bin/python tests/golden/analysis/make_goldens.py

1. ``backtesting_goog_smacross.*``: backtesting.py's statistics of a 10/20 SMA-cross backtest
   on its bundled GOOG history (the equity curve and trade PnLs are saved as the input).
2. ``talib_goog_core.json``: TA-Lib's last values and warm-up for the core indicators on GOOG.
Each output has a ``.meta.json`` with the reference library, its version, the input file and
its sha256, the parameters and this script.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import pathlib
import warnings

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
SCRIPT = "tests/golden/analysis/make_goldens.py"


def _sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_json(name: str, data: object) -> None:
    (HERE / name).write_text(json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n")


def backtesting_golden() -> None:
    import backtesting
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import GOOG, SMA

    class SmaCross(Strategy):
        def init(self) -> None:
            self.fast = self.I(SMA, self.data.Close, 10)
            self.slow = self.I(SMA, self.data.Close, 20)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.buy(size=0.5)
            elif crossover(self.slow, self.fast):
                self.position.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = Backtest(GOOG, SmaCross, cash=10_000, commission=0.002, finalize_trades=True).run()
    eq = stats._equity_curve["Equity"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["date", "equity"])
    for t, v in eq.items():
        w.writerow([t.strftime("%Y-%m-%d"), repr(float(v))])
    (HERE / "backtesting_goog_smacross_equity.csv").write_text(buf.getvalue())
    expected = {
        "total_return": stats["Return [%]"] / 100,
        "annual_return": stats["Return (Ann.) [%]"] / 100,
        "sharpe_ratio_geometric": float(stats["Sharpe Ratio"]),
        "cagr": stats["CAGR [%]"] / 100,
        "max_drawdown": stats["Max. Drawdown [%]"] / 100,
        "calmar_ratio": float(stats["Calmar Ratio"]),
        "longest_drawdown_days": int(stats["Max. Drawdown Duration"].days),
        "win_rate": stats["Win Rate [%]"] / 100,
        "trade_pnls": [float(x) for x in stats._trades["PnL"]],
    }
    _write_json("backtesting_goog_smacross.json", expected)
    _write_json(
        "backtesting_goog_smacross.meta.json",
        {
            "reference": "backtesting.py",
            "version": backtesting.__version__,
            "input": "backtesting/test/GOOG.csv (bundled with backtesting.py)",
            "input_sha256": _sha256(pathlib.Path(backtesting.__file__).parent / "test" / "GOOG.csv"),
            "equity_file": "backtesting_goog_smacross_equity.csv",
            "equity_sha256": _sha256(HERE / "backtesting_goog_smacross_equity.csv"),
            "parameters": {"strategy": "SMA(10) x SMA(20), buy(size=0.5) / close", "cash": 10000, "commission": 0.002,
                           "finalize_trades": True, "periods_per_year": 252, "risk_free_rate": 0},
            "units": "fractions (backtesting.py's percent / 100)",
            "script": SCRIPT,
        },
    )


def talib_golden() -> None:
    import backtesting
    import talib
    from backtesting.test import GOOG

    o, h, lo, c, v = (GOOG[k].to_numpy(dtype=np.float64) for k in ("Open", "High", "Low", "Close", "Volume"))
    calls = {
        "RSI_14": talib.RSI(c, 14),
        "MACD_12_26_9": talib.MACD(c, 12, 26, 9),
        "SMA_20": talib.SMA(c, 20),
        "EMA_50": talib.EMA(c, 50),
        "BBANDS_20_2_2_0": talib.BBANDS(c, 20, 2.0, 2.0, 0),
        "ATR_14": talib.ATR(h, lo, c, 14),
        "STOCH_5_3_0_3_0": talib.STOCH(h, lo, c, 5, 3, 0, 3, 0),
        "OBV": talib.OBV(c, v),
        "ADX_14": talib.ADX(h, lo, c, 14),
    }
    out = {}
    for key, res in calls.items():
        outs = res if isinstance(res, tuple) else (res,)
        out[key] = [
            {"first_valid": int(np.argmax(~np.isnan(a))), "last5": [float(x) for x in a[-5:]], "sum": float(np.nansum(a))}
            for a in outs
        ]
    cdl = {name: np.flatnonzero(getattr(talib, name)(o, h, lo, c)).tolist() for name in
           ("CDLDOJI", "CDLHAMMER", "CDLENGULFING", "CDLSHOOTINGSTAR", "CDLMORNINGSTAR", "CDLEVENINGSTAR", "CDLHANGINGMAN", "CDLHARAMI")}
    _write_json("talib_goog_core.json", {"indicators": out, "pattern_bars": cdl})
    _write_json(
        "talib_goog_core.meta.json",
        {
            "reference": "TA-Lib (python wrapper ta-lib)",
            "version": talib.__version__,
            "c_library": talib.__ta_version__.decode() if isinstance(talib.__ta_version__, bytes) else str(talib.__ta_version__),
            "input": f"backtesting/test/GOOG.csv (bundled with backtesting.py {backtesting.__version__})",
            "input_sha256": _sha256(pathlib.Path(backtesting.__file__).parent / "test" / "GOOG.csv"),
            "parameters": "keys are NAME_param1_param2... in TA-Lib's parameter order; pattern_bars lists bar indices with a non-zero output",
            "script": SCRIPT,
        },
    )


if __name__ == "__main__":
    backtesting_golden()
    talib_golden()

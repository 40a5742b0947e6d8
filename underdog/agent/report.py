"""An evaluation's folds as what a person reads: a table per fold, pooled Sharpes with their
intervals, the deflated Sharpe ratio over the seeds tried, every fold's equity in one plot.
Plain values (data frames, floats, markdown holding a PNG): the Dagster asset wraps them as
metadata (a frame as a table, which the UI draws inline)."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd

from underdog.agent.evaluate import Evaluation
from underdog.agent.performance import equity_png
from underdog.agent.stats import books_returns, deflated_sharpe, per_bar_sharpe, sharpe_estimate

# What the fold table's columns hold (the UI shows them under "Show schema").
FOLD_COLUMNS = {
    "fold": "walk-forward fold, 1 = the earliest test window (windows: test_windows_<symbol>)",
    "strategy": "td3 (the fold's policy) or a baseline, after the same costs",
    "sharpe": "annualized Sharpe ratio on the fold's test window",
    "ci_low": "95 % interval of the Sharpe, low end (bootstrap over days from 10 days on, "
              "else Lo's standard error)",
    "ci_high": "95 % interval of the Sharpe, high end",
    "days": "the test window's length in trading days (bars / 1440)",
    "return": "total return over the test window",
}


def fold_table(folds: list[Evaluation]) -> pd.DataFrame:
    """A row per fold and strategy: the Sharpe on the fold's test window with its interval,
    the window's length and the return. Long rather than wide, so that it fits the width
    of a metadata value on the asset page."""
    rows = []
    for i, evaluation in enumerate(folds, start=1):
        for name, sharpe in evaluation.sharpe.items():
            rows.append({"fold": i, "strategy": name, "sharpe": round(sharpe.sharpe, 2),
                         "ci_low": round(sharpe.low, 2), "ci_high": round(sharpe.high, 2),
                         "days": round(sharpe.days, 2),
                         "return": round(evaluation.metrics[name]["total_return"], 5)})
    return pd.DataFrame(rows, columns=list(FOLD_COLUMNS))


def window_of(evaluation: Evaluation) -> list[str]:
    """[first bar, last bar] of the fold's test window, UTC."""
    ns = evaluation.books["td3"].equity_ns
    return [f"{pd.Timestamp(t):%Y-%m-%d %H:%M}" for t in (ns[0], ns[-1])]


def pooled(folds: list[Evaluation], strategy: str) -> tuple[np.ndarray, np.ndarray]:
    parts = [books_returns(e.books[strategy]) for e in folds if strategy in e.books]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def folds_metadata(symbol: str, folds: list[Evaluation], trials: list[float]) -> dict:
    """Metadata of one symbol's folds; `trials`: the other seeds' pooled per-bar Sharpes."""
    strategies = list(folds[-1].books)
    pooled_text = {s: sharpe_estimate(*pooled(folds, s)).text() for s in strategies}
    returns, _ = pooled(folds, "td3")
    own = per_bar_sharpe(returns)
    curves = {}
    for i, evaluation in enumerate(folds, start=1):
        curves[f"fold {i} td3"] = evaluation.books["td3"]
        if "oracle" in evaluation.books:
            curves[f"fold {i} oracle"] = evaluation.books["oracle"]
    oracle = " and the oracle" if any("oracle" in e.books for e in folds) else ""
    png = equity_png(curves, f"{symbol}: TD3{oracle} on every fold's test window")
    return {
        f"folds_{symbol}": fold_table(folds),
        f"equity_curve_{symbol}": (f"![equity {symbol}](data:image/png;base64,"
                                   f"{base64.b64encode(png).decode()})"),
        f"pooled_sharpe_{symbol}": pooled_text,
        f"deflated_sharpe_{symbol}": deflated_sharpe(returns, np.array([own, *trials])),
        f"seeds_in_deflation_{symbol}": 1 + len(trials),
        f"per_bar_sharpe_{symbol}": own,
        f"test_windows_{symbol}": [window_of(e) for e in folds],
        # A row per metric, a column per strategy (narrower than the other way round), six
        # significant digits: the table fits the width of a metadata value on the asset page.
        f"metrics_{symbol}": pd.DataFrame(folds[-1].metrics).map(
            lambda v: float(f"{v:.6g}")).rename_axis("metric").reset_index(),
    }

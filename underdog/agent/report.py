"""An evaluation's folds as what a person reads: a table per fold, pooled Sharpes with their
intervals, the deflated Sharpe ratio over the seeds tried, every fold's equity in one plot.
Plain values (markdown, floats, a PNG): the Dagster asset wraps them as metadata."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd

from underdog.agent.evaluate import Evaluation
from underdog.agent.performance import equity_png
from underdog.agent.stats import books_returns, deflated_sharpe, per_bar_sharpe, sharpe_estimate


def fold_table(folds: list[Evaluation]) -> pd.DataFrame:
    rows = []
    for i, evaluation in enumerate(folds, start=1):
        sharpe = evaluation.sharpe
        first, end = (pd.Timestamp(t) for t in (evaluation.books["td3"].equity_ns[0],
                                                evaluation.books["td3"].equity_ns[-1]))
        row = {"fold": i, "policy": evaluation.version, "test_from": f"{first:%Y-%m-%d %H:%M}",
               "test_to": f"{end:%Y-%m-%d %H:%M}", "days": round(sharpe["flat"].days, 2)}
        row.update({name: s.text().split(" over")[0] for name, s in sharpe.items()})
        row["td3_return"] = round(evaluation.metrics["td3"]["total_return"], 5)
        rows.append(row)
    return pd.DataFrame(rows)


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
    png = equity_png(curves, f"{symbol}: every fold's test window (TD3 and oracle)")
    return {
        f"folds_{symbol}": fold_table(folds).to_markdown(index=False),
        f"pooled_sharpe_{symbol}": pooled_text,
        f"deflated_sharpe_{symbol}": deflated_sharpe(returns, np.array([own, *trials])),
        f"seeds_in_deflation_{symbol}": 1 + len(trials),
        f"per_bar_sharpe_{symbol}": own,
        f"test_windows_{symbol}": [[str(r.test_from), str(r.test_to)]
                                   for r in fold_table(folds).itertuples()],
        f"metrics_{symbol}": pd.DataFrame(folds[-1].metrics).T.round(6).to_markdown(),
        f"equity_curve_{symbol}": (f"![equity {symbol}](data:image/png;base64,"
                                   f"{base64.b64encode(png).decode()})"),
    }

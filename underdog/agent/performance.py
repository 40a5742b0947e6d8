"""Performance statistics of a backtest's books, and the equity curve as a PNG."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from underdog.agent.backtest import Books

# FX trades 24 hours, 5 days a week: 260 days x 1440 M1 bars a year (annualizes per-bar ratios).
BARS_PER_YEAR = 260 * 1440
METRIC_NAMES = ("total_return", "sharpe", "sortino", "max_drawdown", "win_rate", "trades",
                "turnover_per_day", "exposure", "final_equity")


def performance(books: Books) -> dict[str, float]:
    """Total return, annualized Sharpe and Sortino of per-bar returns, max drawdown, win
    rate of closed trades (0 with none), turnover per day (units of maximum exposure)."""
    equity = np.asarray(books.equity, dtype="float64")
    returns = equity[1:] / equity[:-1] - 1.0
    days = max((books.equity_ns[-1] - books.equity_ns[0]) / 86_400e9, 1 / 1440)
    wins = sum(1 for t in books.trades if t["pnl"] > 0)
    return {
        "total_return": float(equity[-1] / equity[0] - 1.0),
        "sharpe": _ratio(returns, returns.std()),
        "sortino": _ratio(returns, np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2))),
        "max_drawdown": float(np.max(1.0 - equity / np.maximum.accumulate(equity))),
        "win_rate": wins / len(books.trades) if books.trades else 0.0,
        "trades": float(len(books.trades)),
        "turnover_per_day": books.turnover / days,
        "exposure": float(np.mean(books.exposure)) if books.exposure else 0.0,
        "final_equity": float(equity[-1]),
    }


def _ratio(returns: np.ndarray, scale: float) -> float:
    if len(returns) < 2 or scale < 1e-15:
        return 0.0  # no variation (flat): no risk taken, no risk-adjusted return
    return float(returns.mean() / scale * np.sqrt(BARS_PER_YEAR))


def equity_png(curves: dict[str, Books], title: str) -> bytes:
    """The equity curves of several strategies over the same window, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render to memory
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    for name, books in curves.items():
        times = pd.to_datetime(np.asarray(books.equity_ns), utc=True)
        label = f"{name} (shield: {books.shield})" if books.shield else name
        ax.plot(times, books.equity, label=label, linewidth=1.2)
    ax.set_title(title)
    ax.set_ylabel("equity")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.autofmt_xdate()
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()

"""Honest Sharpe ratios: annualized for M1 bars of a 24x5 market, with the window they cover,
a confidence interval, and the deflated Sharpe ratio when several trials were made.

- Annualization: FX trades 24 hours, 5 days a week, so a year holds 260 x 1440 M1 bars
  (`BARS_PER_YEAR`); a per-bar ratio is multiplied by sqrt(BARS_PER_YEAR).
- Interval: a bootstrap over UTC days (days resampled whole, so intraday autocorrelation
  stays inside each draw) when the window has at least `MIN_BOOTSTRAP_DAYS` days; on
  shorter windows Lo's (2002) standard error sqrt((1 + SR^2 / 2) / T) of the per-bar ratio.
- Deflated Sharpe ratio (Bailey & Lopez de Prado, 2014): the probability that the chosen
  trial's true Sharpe exceeds the best one expected from N trials of no skill.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from underdog.agent.backtest import Books
from underdog.agent.performance import BARS_PER_YEAR

NS_PER_DAY = 86_400 * 10**9
MIN_BOOTSTRAP_DAYS = 10
EULER_GAMMA = 0.5772156649015329


@dataclass(frozen=True)
class SharpeEstimate:
    sharpe: float  # annualized
    low: float  # confidence interval of the annualized Sharpe
    high: float
    method: str  # "bootstrap over N days" or "Lo standard error"
    bars: int
    days: float  # the window's length in trading days (bars / 1440)

    def as_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        return f"{self.sharpe:+.2f} [{self.low:+.2f}, {self.high:+.2f}] over {self.days:.1f} d"


def per_bar_sharpe(returns: np.ndarray) -> float:
    returns = np.asarray(returns, dtype="float64")
    scale = returns.std()
    if len(returns) < 2 or scale < 1e-15:
        return 0.0  # no variation (flat): no risk taken, no risk-adjusted return
    return float(returns.mean() / scale)


def annualized(per_bar: float) -> float:
    return per_bar * float(np.sqrt(BARS_PER_YEAR))


def lo_standard_error(per_bar: float, n: int) -> float:
    """Lo (2002): the standard error of a per-bar Sharpe ratio from n iid returns."""
    return float(np.sqrt((1.0 + 0.5 * per_bar**2) / max(n, 1)))


def sharpe_estimate(returns: np.ndarray, times_ns: np.ndarray, *, level: float = 0.95,
                    draws: int = 2000, seed: int = 0) -> SharpeEstimate:
    """The annualized Sharpe of per-bar `returns` (stamped at `times_ns`) with its interval."""
    returns = np.asarray(returns, dtype="float64")
    n = len(returns)
    sr = per_bar_sharpe(returns)
    days = np.asarray(times_ns, dtype="int64") // NS_PER_DAY
    labels, day = np.unique(days, return_inverse=True)
    z = float(stats.norm.ppf(0.5 + level / 2))
    if len(labels) >= MIN_BOOTSTRAP_DAYS and sr != 0.0:
        low, high = _bootstrap_days(returns, day, len(labels), level, draws, seed)
        method = f"bootstrap over {len(labels)} days"
    else:
        se = lo_standard_error(sr, n)
        low, high = sr - z * se, sr + z * se
        method = "Lo standard error"
    return SharpeEstimate(annualized(sr), annualized(low), annualized(high), method, n,
                          n / 1440)


def _bootstrap_days(returns: np.ndarray, day: np.ndarray, n_days: int, level: float,
                    draws: int, seed: int) -> tuple[float, float]:
    """Percentile interval of the per-bar Sharpe with whole days resampled."""
    count = np.bincount(day, minlength=n_days).astype("float64")
    total = np.bincount(day, weights=returns, minlength=n_days)
    squares = np.bincount(day, weights=returns**2, minlength=n_days)
    picks = np.random.default_rng(seed).integers(0, n_days, size=(draws, n_days))
    n, s1, s2 = count[picks].sum(1), total[picks].sum(1), squares[picks].sum(1)
    mean = s1 / n
    std = np.sqrt(np.maximum(s2 / n - mean**2, 1e-30))
    tail = (1 - level) / 2
    low, high = np.quantile(mean / std, [tail, 1 - tail])
    return float(low), float(high)


def deflated_sharpe(returns: np.ndarray, trial_sharpes: np.ndarray) -> float:
    """Probability that the true per-bar Sharpe of `returns` (the chosen trial) is above the
    expected maximum of len(trial_sharpes) skill-less trials (their per-bar Sharpes give the
    variance across trials). One trial: the probabilistic Sharpe ratio against 0."""
    returns = np.asarray(returns, dtype="float64")
    trials = np.asarray(trial_sharpes, dtype="float64")
    n = len(returns)
    sr = per_bar_sharpe(returns)
    if n < 3 or sr == 0.0:
        return 0.0 if sr <= 0.0 else 1.0
    if len(trials) > 1:
        count = len(trials)
        expected_max = ((1 - EULER_GAMMA) * stats.norm.ppf(1 - 1 / count)
                        + EULER_GAMMA * stats.norm.ppf(1 - 1 / (count * np.e)))
        benchmark = float(np.sqrt(trials.var(ddof=1))) * expected_max
    else:
        benchmark = 0.0
    skew = float(stats.skew(returns))
    kurtosis = float(stats.kurtosis(returns, fisher=False))
    denominator = np.sqrt(max(1 - skew * sr + (kurtosis - 1) / 4 * sr**2, 1e-12))
    return float(stats.norm.cdf((sr - benchmark) * np.sqrt(n - 1) / denominator))


def books_returns(books: Books) -> tuple[np.ndarray, np.ndarray]:
    """Per-bar returns of a backtest's equity and when each is known (ns)."""
    equity = np.asarray(books.equity, dtype="float64")
    return equity[1:] / equity[:-1] - 1.0, np.asarray(books.equity_ns[1:], dtype="int64")


def books_sharpe(books: Books, **kwargs: object) -> SharpeEstimate:
    return sharpe_estimate(*books_returns(books), **kwargs)

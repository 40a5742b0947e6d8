"""Walk-forward learning: each fold trained on its past, validated, then tested on its own.

For every fold of `data.walk_forward_folds` a fresh TD3 is trained on the fold's training
window (scaler fitted there), checked on its validation window (`Trained.deployable`: the
Sharpe interval above 0), and backtested on its test window next to flat, buy-and-hold, a
moving-average crossover and, where the market's edge signal is known, the oracle. Sharpe
ratios come with their interval and the window they cover (`stats`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from underdog.agent.acting import policy_of
from underdog.agent.backtest import Books
from underdog.agent.baselines import ma_crossover_positions, oracle_positions
from underdog.agent.config import AgentConfig
from underdog.agent.data import MarketData, walk_forward_folds
from underdog.agent.performance import performance
from underdog.agent.stats import SharpeEstimate, books_returns, books_sharpe, sharpe_estimate
from underdog.agent.train import Trained, compare, train

STRATEGIES = ("td3", "flat", "buy_and_hold", "ma_crossover", "oracle")


@dataclass
class FoldResult:
    fold: int
    trained: Trained
    books: dict[str, Books]  # strategy -> its books on the test window
    metrics: dict[str, dict[str, float]]  # strategy -> performance on the test window
    sharpe: dict[str, SharpeEstimate]  # strategy -> test Sharpe with its interval

    @property
    def deployable(self) -> bool:
        return self.trained.deployable

    @property
    def windows(self) -> dict[str, list[str]]:
        return self.trained.split.as_dict(self.trained.data)

    def row(self) -> dict[str, object]:
        """The fold as one table row: windows, validation check, test Sharpes."""
        test = self.windows["test"]
        row: dict[str, object] = {"fold": self.fold, "test_from": test[0][:16],
                                  "test_to": test[1][:16],
                                  "test_days": round(self.sharpe["td3"].days, 2),
                                  "validation_sharpe": self.trained.validation_sharpe.text(),
                                  "deployable": self.deployable}
        row.update({f"{name}_sharpe": s.text() for name, s in self.sharpe.items()})
        return row


def schedules(data: MarketData, signal: np.ndarray | None) -> dict[str, np.ndarray]:
    """The rule baselines' positions over the whole data (windows slice them)."""
    out = {"ma_crossover": ma_crossover_positions(data.close)}
    if signal is not None and np.any(signal):
        out["oracle"] = oracle_positions(signal)
    return out


def run_folds(data: MarketData, config: AgentConfig,
              signal: np.ndarray | None = None) -> list[FoldResult]:
    s = config.split
    splits = walk_forward_folds(len(data), s.folds, s.train, s.validation, s.purge_bars,
                                s.embargo_bars)
    plans = schedules(data, signal)
    results = []
    for i, split in enumerate(splits, start=1):
        trained = train(data, config, split)
        test = data.window(split.test)
        books = compare(test, trained.scaler, config.env, policy_of(trained.model, config),
                        {name: positions[split.test] for name, positions in plans.items()})
        results.append(FoldResult(i, trained, books,
                                  {n: performance(b) for n, b in books.items()},
                                  {n: books_sharpe(b) for n, b in books.items()}))
    return results


def pooled_sharpe(folds: list[FoldResult], strategy: str) -> SharpeEstimate:
    """One Sharpe over all folds' test bars of `strategy` (the test windows are disjoint)."""
    parts = [books_returns(f.books[strategy]) for f in folds]
    return sharpe_estimate(np.concatenate([p[0] for p in parts]),
                           np.concatenate([p[1] for p in parts]))

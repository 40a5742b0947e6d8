"""Walk-forward evaluation: a stored policy on its test window, against buy-and-hold and flat.

The test window comes from the policy's own record (it never saw it in training); the data
is read again from `state_vectors`, scaled with the policy's training statistics. The books
go to the ledger tables and the metrics to `metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from underdog.agent.acting import policy_of
from underdog.agent.backtest import Books
from underdog.agent.baselines import ma_crossover_positions, oracle_positions
from underdog.agent.data import MarketData, load_market
from underdog.agent.ledger import LedgerRun, write_ledger
from underdog.agent.performance import equity_png, performance
from underdog.agent.policies import load_policy
from underdog.agent.stats import SharpeEstimate, books_sharpe
from underdog.agent.train import compare
from underdog.sources.simulated import Edge, simulated_edge_signal
from underdog.store.db import Database


@dataclass
class Evaluation:
    symbol: str
    version: str
    metrics: dict[str, dict[str, float]]  # td3, buy_and_hold, flat
    books: dict[str, Books]
    equity_png: bytes
    ledger: LedgerRun | None

    @property
    def strategy(self) -> str:
        return f"td3:{self.version}"

    @property
    def sharpe(self) -> dict[str, SharpeEstimate]:
        """Each strategy's test Sharpe with its interval and window length."""
        return {name: books_sharpe(b) for name, b in self.books.items()}


def rule_schedules(data: MarketData, *, seed: int | None = None,
                   edge: Edge | None = None) -> dict[str, np.ndarray]:
    """The moving-average crossover over the window and, on the simulated market with a
    planted edge (its seed and edge given), the oracle that knows the edge's signal."""
    out = {"ma_crossover": ma_crossover_positions(data.close)}
    if edge is not None and edge.active and seed is not None:
        first, end = data.span()
        signal = simulated_edge_signal(data.symbol, first, end, seed=seed, edge=edge)
        signal = signal.reindex(data.index).fillna(0.0).to_numpy(dtype="float64")
        out["oracle"] = oracle_positions(signal)
    return out


def evaluate(db: Database, symbol: str, *, version: str | None = None, run_id: str,
             write: bool = True, rules: bool = False, seed: int | None = None,
             edge: Edge | None = None) -> Evaluation:
    """`rules`: also the rule baselines (`rule_schedules`, with the simulator's seed and
    edge for the oracle)."""
    policy = load_policy(db, symbol, version)
    start, end = policy.window("test")
    data = load_market(db, symbol, start, end)
    schedules = rule_schedules(data, seed=seed, edge=edge) if rules else None
    books = compare(data, policy.scaler, policy.config.env,
                    policy_of(policy.model, policy.config), schedules)
    metrics = {name: performance(b) for name, b in books.items()}
    png = equity_png(books, f"{symbol} test window, policy {policy.version}")
    evaluation = Evaluation(symbol, policy.version, metrics, books, png, ledger=None)
    if write:
        evaluation.ledger = write_ledger(db, books["td3"], metrics, strategy=evaluation.strategy,
                                         run_id=run_id, start=start, end=end)
    return evaluation

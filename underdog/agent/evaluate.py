"""Walk-forward evaluation: a stored policy on its test window, against buy-and-hold and flat.

The test window comes from the policy's own record (it never saw it in training); the data
is read again from `state_vectors`, scaled with the policy's training statistics. The books
go to the ledger tables and the metrics to `metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass

from underdog.agent.backtest import Books
from underdog.agent.data import load_market
from underdog.agent.ledger import LedgerRun, write_ledger
from underdog.agent.performance import equity_png, performance
from underdog.agent.policies import load_policy
from underdog.agent.train import compare, policy_of
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


def evaluate(db: Database, symbol: str, *, version: str | None = None, run_id: str,
             write: bool = True) -> Evaluation:
    policy = load_policy(db, symbol, version)
    start, end = policy.window("test")
    data = load_market(db, symbol, start, end)
    books = compare(data, policy.scaler, policy.config.env, policy_of(policy.model))
    metrics = {name: performance(b) for name, b in books.items()}
    png = equity_png(books, f"{symbol} test window, policy {policy.version}")
    evaluation = Evaluation(symbol, policy.version, metrics, books, png, ledger=None)
    if write:
        evaluation.ledger = write_ledger(db, books["td3"], metrics, strategy=evaluation.strategy,
                                         run_id=run_id, start=start, end=end)
    return evaluation

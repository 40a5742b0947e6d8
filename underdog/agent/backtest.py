"""Run a policy over a window and keep its books: trades, positions, account snapshots.

The backtest steps the same environment the agent trained in (same costs, same shield),
closes any open position at the last bar, and attributes every step's gain and cost to the
trade that held the position, so the trades' PnL adds up to the equity's change exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from underdog.agent.env import FxTradingEnv
from underdog.reference.schema import BAR_NS

Policy = Callable[[np.ndarray], np.ndarray]
MARGIN_RATE = 1 / 30  # margin on FX majors at 30:1 (ESMA retail): account snapshots' margin_used


def buy_and_hold(_obs: np.ndarray) -> np.ndarray:
    return np.array([1.0, 1.0], dtype=np.float32)


def flat(_obs: np.ndarray) -> np.ndarray:
    return np.array([0.0, 1.0], dtype=np.float32)


@dataclass
class _OpenTrade:
    sign: float
    entry_ns: int
    entry_price: float
    size: float
    gain: float = 0.0
    cost: float = 0.0

    @property
    def pnl(self) -> float:
        return self.gain - self.cost


@dataclass
class Books:
    """Everything a backtest produced, in account currency (starting at `balance`)."""

    symbol: str
    balance: float
    equity: list[float] = field(default_factory=list)  # after each step; equity[0]: start
    equity_ns: list[int] = field(default_factory=list)  # when each equity value is known
    turnover: float = 0.0  # sum of |position change|, in units of the maximum exposure
    exposure: list[float] = field(default_factory=list)
    shield: str | None = None
    trades: list[dict] = field(default_factory=list)
    positions: list[dict] = field(default_factory=list)
    snapshots: list[dict] = field(default_factory=list)

    def frame(self, kind: str) -> pd.DataFrame:
        rows = getattr(self, kind)
        frame = pd.DataFrame(rows)
        for column in ("time", "entry_time", "available_at"):
            if column in frame:
                frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame


class _Bookkeeper:
    """Follows one episode step by step and writes the books."""

    def __init__(self, env: FxTradingEnv, balance: float) -> None:
        self.env, self.data = env, env.data
        self.books = Books(env.data.symbol, balance)
        self.open: _OpenTrade | None = None
        self.realized = balance
        start_ns = int(self.data.times[0]) + BAR_NS
        self.books.equity.append(balance)
        self.books.equity_ns.append(start_ns)

    def _close_ns(self, t: int) -> int:
        return int(self.data.times[t]) + BAR_NS

    def _close(self, t: int, cost: float) -> None:
        trade, self.open = self.open, None
        trade.cost += cost
        self.realized += trade.pnl
        exit_ns = self._close_ns(t)
        self.books.trades.append({
            "time": exit_ns, "side": "long" if trade.sign > 0 else "short",
            "size": trade.size, "entry_time": trade.entry_ns, "entry_price": trade.entry_price,
            "exit_price": float(self.data.close[t]), "commission": trade.cost,
            "pnl": trade.pnl, "available_at": exit_ns,
        })

    def step(self, old: float, info: dict, equity_before: float) -> None:
        t, new = info["t"], info["position"]
        money = equity_before * self.books.balance
        change = abs(new - old)
        unit_cost = info["cost"] / change * money if change else 0.0
        if self.open and (new == 0.0 or np.sign(new) != self.open.sign):
            self._close(t, unit_cost * abs(old))  # closing part of the change
            change -= abs(old)
        if new != 0.0 and self.open is None:
            self.open = _OpenTrade(float(np.sign(new)), self._close_ns(t),
                                   float(self.data.close[t]), abs(new))
        if self.open:
            self.open.cost += unit_cost * change
            self.open.size = max(self.open.size, abs(new))
            self.open.gain += money * info["gross_return"]
        equity_after_move = money * (1.0 + info["net_return"])
        if "shield" in info and self.open:  # the shield flattened at t+1's close
            self._close(t + 1, info["flatten_cost"] * equity_after_move)
        self._record(t, 0.0 if "shield" in info else new)

    def _record(self, t: int, position: float) -> None:
        equity = self.env.equity * self.books.balance
        at = self._close_ns(t + 1)
        self.books.equity.append(equity)
        self.books.equity_ns.append(at)
        self.books.exposure.append(abs(position))
        trade = self.open
        self.books.positions.append({
            "time": at, "symbol": self.data.symbol, "size": position,
            "avg_price": trade.entry_price if trade else None,
            "unrealized_pnl": trade.pnl if trade else 0.0, "available_at": at,
        })
        self.books.snapshots.append({
            "time": at, "balance": self.realized, "equity": equity,
            "margin_used": abs(position) * self.env.config.leverage * equity * MARGIN_RATE,
            "available_at": at,
        })

    def close_out(self) -> None:
        """The window ends: close what is open at the last bar's close."""
        if self.open is None:
            return
        money = self.env.equity * self.books.balance
        self.books.turnover += abs(self.env.position)
        cost = self.env.flatten()
        self._close(self.env.bar, cost * money)
        self.books.equity[-1] = self.env.equity * self.books.balance
        self.books.snapshots[-1].update(balance=self.realized, equity=self.books.equity[-1],
                                        margin_used=0.0)
        self.books.positions[-1].update(size=0.0, avg_price=None, unrealized_pnl=0.0)


def run_backtest(env: FxTradingEnv, policy: Policy, balance: float = 100_000.0) -> Books:
    """One deterministic pass of `policy` over the env's whole window (episode_bars=None)."""
    if env.episode_bars is not None:
        raise ValueError("a backtest runs over the whole window: use episode_bars=None")
    obs, _ = env.reset(seed=0)
    keeper = _Bookkeeper(env, balance)
    done = False
    while not done:
        old, before = env.position, env.equity
        obs, _reward, terminated, truncated, info = env.step(policy(obs))
        keeper.books.turnover += abs(info["position"] - old)
        if "shield" in info:
            keeper.books.turnover += abs(info["position"])
        keeper.step(old, info, before)
        keeper.books.shield = info.get("shield")
        done = terminated or truncated
    keeper.close_out()
    return keeper.books

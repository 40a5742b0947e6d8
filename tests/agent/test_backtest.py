"""The backtest's books: trades add up to the equity, flips close trades, metrics by hand."""

from __future__ import annotations

import numpy as np
import pytest

from tests.agent.paths import KEEP, env_on, hold, path
from underdog.agent.backtest import Books, buy_and_hold, flat, run_backtest
from underdog.agent.config import EnvConfig
from underdog.agent.data import walk_forward
from underdog.agent.performance import BARS_PER_YEAR, equity_png, performance
from underdog.agent.scaler import Scaler

COSTLY = EnvConfig(leverage=5.0, commission=0.00002, slippage=0.00001, max_daily_loss=0.5,
                   max_drawdown=0.9)


def scripted(actions: list[np.ndarray]):
    steps = iter(actions)
    return lambda _obs: next(steps)


def random_walk(n: int, seed: int = 0) -> np.ndarray:
    return 1.1 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 2e-4, n)))


def test_trades_add_up_to_the_equity_change() -> None:
    rng = np.random.default_rng(3)
    env = env_on(path(random_walk(3000), spread=0.00012), COSTLY)
    books = run_backtest(env, lambda _obs: rng.uniform(-1, 1, 2).astype(np.float32))
    assert len(books.trades) > 20
    assert sum(t["pnl"] for t in books.trades) == pytest.approx(
        books.equity[-1] - books.equity[0], abs=1e-6)
    assert all(t["commission"] > 0 and t["size"] > 0 for t in books.trades)
    assert books.positions[-1]["size"] == 0.0  # closed out at the end
    assert books.snapshots[-1]["balance"] == pytest.approx(books.equity[-1], abs=1e-6)


def test_a_flip_closes_one_trade_and_opens_the_other() -> None:
    closes = [1.00, 1.01, 1.02, 1.01, 1.00, 1.00]
    actions = [hold(1.0), KEEP, hold(-0.5), KEEP, hold(0.0)]
    books = run_backtest(env_on(path(closes)), scripted(actions), balance=1000.0)
    long, short = books.trades
    assert (long["side"], long["entry_price"], long["exit_price"]) == ("long", 1.00, 1.02)
    assert long["pnl"] == pytest.approx(1000.0 * (1.02 - 1.00) / 1.00, rel=1e-9)
    assert (short["side"], short["size"], short["entry_price"], short["exit_price"]) == (
        "short", 0.5, 1.02, 1.00)
    equity_at_flip = 1000.0 * 1.02
    assert short["pnl"] == pytest.approx(
        equity_at_flip * 0.5 * (1.02 - 1.01) / 1.02
        + equity_at_flip * (1 + 0.5 * (1.02 - 1.01) / 1.02) * 0.5 * (1.01 - 1.00) / 1.01,
        rel=1e-9)
    assert short["entry_time"] == long["time"]  # the flip: one exit, one entry, same bar


def test_flat_trades_nothing_and_buy_and_hold_trades_once() -> None:
    data = path(random_walk(500), spread=0.0001)
    assert run_backtest(env_on(data, COSTLY), flat).trades == []
    books = run_backtest(env_on(data, COSTLY), buy_and_hold)
    assert len(books.trades) == 1 and books.turnover == 2.0


def test_performance_by_hand() -> None:
    books = Books("EURUSD", 100.0, equity=[100.0, 110.0, 99.0, 104.0],
                  equity_ns=[0, 86_400 * 10**9, 2 * 86_400 * 10**9, 3 * 86_400 * 10**9],
                  turnover=3.0, exposure=[1.0, 1.0, 0.0],
                  trades=[{"pnl": 10.0}, {"pnl": -11.0}, {"pnl": 5.0}])
    m = performance(books)
    returns = np.array([0.1, -0.1, 5 / 99])
    assert m["total_return"] == pytest.approx(0.04)
    assert m["max_drawdown"] == pytest.approx(0.1)
    assert m["win_rate"] == pytest.approx(2 / 3)
    assert m["turnover_per_day"] == pytest.approx(1.0)
    assert m["sharpe"] == pytest.approx(returns.mean() / returns.std() * np.sqrt(BARS_PER_YEAR))
    downside = np.sqrt(np.mean(np.minimum(returns, 0) ** 2))
    assert m["sortino"] == pytest.approx(returns.mean() / downside * np.sqrt(BARS_PER_YEAR))


def test_the_equity_curve_is_a_png() -> None:
    data = path(random_walk(300))
    png = equity_png({"flat": run_backtest(env_on(data), flat),
                      "buy_and_hold": run_backtest(env_on(data), buy_and_hold)}, "test")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_walk_forward_windows_are_ordered_disjoint_and_purged() -> None:
    split = walk_forward(1000, 0.6, 0.2, purge=30)
    assert (split.train.start, split.train.stop) == (0, 564)
    assert split.validation.start - split.train.stop == 30
    assert split.test.start - split.validation.stop == 30 and split.test.stop == 1000
    with pytest.raises(ValueError, match="too few"):
        walk_forward(100, 0.6, 0.2, purge=60)


def test_the_scaler_sees_only_what_it_is_fitted_on() -> None:
    features = np.arange(20.0).reshape(10, 2).repeat(7, axis=1)
    scaler = Scaler.fit(features[:5])
    assert scaler.mean == pytest.approx(features[:5].mean(axis=0))
    assert Scaler.from_dict(scaler.to_dict()).std == pytest.approx(scaler.std)


def test_a_shield_breach_closes_the_books() -> None:
    config = EnvConfig(leverage=10.0, max_daily_loss=0.05, max_drawdown=0.10)
    closes = 1.10 * (1 - 0.0005 * np.arange(200))  # down 0.05 % a bar, x10 leverage
    books = run_backtest(env_on(path(closes, spread=0.0001), config), buy_and_hold)
    assert books.shield == "max_daily_loss"
    assert len(books.equity) < 200 and books.positions[-1]["size"] == 0.0
    (trade,) = books.trades
    assert trade["pnl"] == pytest.approx(books.equity[-1] - books.equity[0], abs=1e-6)

"""Rule-based strategies the agent is measured against, as position schedules.

A schedule holds one target position per bar of the full data (so a look-back warms up on
the bars before a window); `follow` plays it in a backtest of any window of that data.
- moving-average crossover: long when the 20-bar mean close is above the 60-bar one, short
  below (flat while the slow mean is undefined): the classic trend rule;
- oracle: knows the simulator's planted edge (`simulated.Edge`) and its signal at each bar's
  close; long above +threshold, short below -threshold, else keeps its position (the
  hysteresis keeps its trading costs below what the edge pays).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from underdog.agent.backtest import Policy
from underdog.agent.config import EnvConfig
from underdog.agent.data import MarketData
from underdog.agent.env import FxTradingEnv

ORACLE_THRESHOLD = 1.5  # in units of the edge signal's standard deviation
MA_FAST, MA_SLOW = 20, 60


def ma_crossover_positions(close: np.ndarray, fast: int = MA_FAST,
                           slow: int = MA_SLOW) -> np.ndarray:
    prices = pd.Series(close)
    diff = (prices.rolling(fast).mean() - prices.rolling(slow).mean()).to_numpy()
    return np.nan_to_num(np.sign(diff))


def oracle_positions(signal: np.ndarray, threshold: float = ORACLE_THRESHOLD) -> np.ndarray:
    """+1 / -1 beyond +-threshold, else the previous position (starting flat)."""
    entries = np.where(signal > threshold, 1.0, np.where(signal < -threshold, -1.0, np.nan))
    return pd.Series(entries).ffill().fillna(0.0).to_numpy()


def follow(env: FxTradingEnv, positions: np.ndarray) -> Policy:
    """A policy that trades to positions[bar] at each bar of `env` (a window's schedule)."""
    if len(positions) != len(env.data):
        raise ValueError(f"{len(positions)} positions for {len(env.data)} bars")

    def act(_obs: np.ndarray) -> np.ndarray:
        return np.array([positions[env.bar], 1.0], dtype=np.float32)

    return act


def schedule_returns(data: MarketData, positions: np.ndarray, config: EnvConfig) -> np.ndarray:
    """Net per-bar returns of a schedule with the environment's costs, without its shield:
    a long simulation's expected Sharpe in one vectorized pass. Bar t's return is position t
    held to t+1's close, less the cost of trading to position t at t's close."""
    c = config
    unit_cost = c.leverage * (data.spread / data.close / 2 + c.slippage + c.commission)
    change = np.abs(np.diff(positions, prepend=0.0))
    gross = positions[:-1] * c.leverage * (data.close[1:] / data.close[:-1] - 1.0)
    return gross - change[:-1] * unit_cost[:-1]

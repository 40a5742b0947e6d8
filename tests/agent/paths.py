"""Hand-made price paths as MarketData, for the environment and backtest tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from underdog.agent.config import EnvConfig
from underdog.agent.data import MarketData
from underdog.agent.env import FxTradingEnv
from underdog.agent.scaler import Scaler

START = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
# No trading costs and no leverage: the arithmetic of a test is the price path's.
FREE = EnvConfig(leverage=1.0, commission=0.0, slippage=0.0, max_daily_loss=0.5,
                 max_drawdown=0.9)


def path(closes: Sequence[float], *, spread: float = 0.0, start: datetime = START,
         freq: str = "min", seed: int = 0) -> MarketData:
    """Bars with these closes (bar i at start + i x freq) and random other features."""
    n = len(closes)
    times = pd.date_range(start, periods=n, freq=freq, tz="UTC").as_unit("ns").asi8
    features = np.random.default_rng(seed).normal(size=(n, 14))
    features[:, 0] = closes
    return MarketData("EURUSD", times, features, np.asarray(closes, dtype="float64"),
                      np.full(n, spread))


def env_on(data: MarketData, config: EnvConfig = FREE, *, scaler: Scaler | None = None,
           **kwargs: object) -> FxTradingEnv:
    """The environment on `data`, scaled by `scaler` (default: fitted on `data`)."""
    return FxTradingEnv(data, scaler or Scaler.fit(data.features), config, **kwargs)


def hold(target: float) -> np.ndarray:
    return np.array([target, 1.0], dtype=np.float32)


KEEP = np.array([0.0, -1.0], dtype=np.float32)  # signal <= 0: keep the position

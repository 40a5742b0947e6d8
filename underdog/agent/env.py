"""A Gymnasium FX trading environment over precomputed state vectors.

Observation: the 14 features, z-scored with the training window's statistics and clipped,
plus the current position. Action Box(2): (target position in [-1, 1] of the maximum
exposure, entry signal: the target is traded only when the signal is > 0, else the position
is held). The decision at bar t trades at bar t's close (known at t) and earns the move to
bar t+1's close: no step sees a price after its decision. Costs, reward, the risk shield,
the decision interval and the deadband are described in `EnvConfig`; `Decisions` trains
from decision to decision.

Every array is prepared in `__init__`; a step is a few float operations (>= 20k steps/s).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from underdog.agent.config import EnvConfig
from underdog.agent.data import MarketData
from underdog.agent.scaler import Scaler
from underdog.features.registry import FEATURE_NAMES

NS_PER_DAY = 86_400 * 10**9


def observation(scaled: np.ndarray, position: float) -> np.ndarray:
    """What the agent sees: one bar's scaled features, then its position (training and live)."""
    obs = np.empty(len(scaled) + 1, dtype=np.float32)
    obs[:-1] = scaled
    obs[-1] = position
    return obs


def scaled_features(scaler: Scaler, features: np.ndarray, config: EnvConfig) -> np.ndarray:
    """The features as the agent sees them (training and live): z-scored with the training
    window's statistics, clipped, the price level hidden unless `config.price_level`."""
    scaled = scaler.transform(features, config.obs_clip)
    if not config.price_level:
        scaled[:, FEATURE_NAMES.index("close")] = 0.0
    return scaled


def position_after(c: EnvConfig, p: float, action: np.ndarray) -> float:
    """The position an action asks for from position p on a decision bar (training, backtests
    and live decisions read an action the same way; see EnvConfig.action_mapping and band)."""
    target = min(max(float(action[0]), -1.0), 1.0)
    if c.action_mapping == "levels":
        target = float(round(target))
    elif c.action_mapping == "gated" and float(action[1]) <= 0.0:
        return p
    if c.band == 0.0 or c.action_mapping == "levels":
        return target
    # The actor's [-1, 1] spans [-1 - band, 1 + band], so every position stays reachable.
    wanted = target * (1.0 + c.band)
    if abs(wanted - p) <= c.band:
        return p
    if c.hysteresis == "play":  # backlash: follow the target at `band` behind it
        wanted -= c.band * np.sign(wanted - p)
    return float(min(max(wanted, -1.0), 1.0))


class DifferentialSharpe:
    """Moody & Saffell's differential Sharpe ratio: the Sharpe ratio's gradient per return."""

    def __init__(self, eta: float, var_floor: float, clip: float) -> None:
        self.eta, self.var_floor, self.clip = eta, var_floor, clip
        self.a = self.b = 0.0

    def reset(self) -> None:
        self.a = self.b = 0.0

    def __call__(self, r: float) -> float:
        da, db = r - self.a, r * r - self.b
        var = max(self.b - self.a * self.a, self.var_floor)
        d = (self.b * da - 0.5 * self.a * db) / var**1.5
        self.a += self.eta * da
        self.b += self.eta * db
        return min(max(d, -self.clip), self.clip)


class FxTradingEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, data: MarketData, scaler: Scaler, config: EnvConfig | None = None, *,
                 episode_bars: int | None = None) -> None:
        """`episode_bars`: episodes start at a random bar and last that many bars (training);
        None: one episode over the whole window from its first bar (evaluation)."""
        if len(data) < 2:
            raise ValueError("the environment needs at least two bars")
        self.config = config or EnvConfig()
        self.data = data
        c = self.config
        self.scaled = scaled_features(scaler, data.features, c)
        # Per bar t: what a unit change of position costs, and what a unit held to t+1 earns
        # (`unit_costs`, `market_returns`: for counterfactual replay, agent/history.py).
        self.unit_costs = c.leverage * (data.spread / data.close / 2 + c.slippage + c.commission)
        self.market_returns = c.leverage * (data.close[1:] / data.close[:-1] - 1.0)
        self._cost, self._ret = self.unit_costs.tolist(), self.market_returns.tolist()  # fast
        self._day = (data.times // NS_PER_DAY).tolist()
        self._n = len(data)
        self.episode_bars = episode_bars
        self._dsr = DifferentialSharpe(c.dsr_eta, c.dsr_var_floor, c.reward_clip)
        n_features = self.scaled.shape[1]
        self.observation_space = gym.spaces.Box(-c.obs_clip, c.obs_clip, (n_features + 1,),
                                                dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
        self._t = self._end = self._start = 0
        self.position = 0.0
        self.equity = self.peak = self.day_open = 1.0

    @property
    def bar(self) -> int:
        """The bar the next decision is made at."""
        return self._t

    def _observation(self) -> np.ndarray:
        return observation(self.scaled[self._t], self.position)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if self.episode_bars is None or self.episode_bars >= self._n - 1:
            self._t, self._end = 0, self._n - 1
        else:
            self._t = int(self.np_random.integers(0, self._n - 1 - self.episode_bars))
            self._end = self._t + self.episode_bars
        self._start = self._t
        self.position = 0.0
        self.equity = self.peak = self.day_open = 1.0
        self._dsr.reset()
        return self._observation(), {"t": self._t}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        t, c = self._t, self.config
        new = self.target(action) if self.deciding else self.position
        cost = abs(new - self.position) * self._cost[t]
        gross = new * self._ret[t]
        net = gross - cost
        before = self.equity
        self.equity = before * (1.0 + net)
        self.position = new
        self._t = t + 1
        if self._day[t + 1] != self._day[t]:
            self.day_open = before  # the move to t+1 belongs to t+1's day
        self.peak = max(self.peak, self.equity)
        drawdown = 1.0 - self.equity / self.peak
        gain = self._dsr(net) if c.reward == "dsr" else c.reward_scale * net
        reward = gain - c.drawdown_penalty * max(0.0, drawdown - c.drawdown_threshold)
        breach = self._breach(drawdown)
        # market_return and unit_cost: what any other action would have earned and paid here
        # (agent/relabel.py recomputes rewards from them)
        info = {"t": t, "position": new, "cost": cost, "gross_return": gross, "net_return": net,
                "flatten_cost": 0.0, "market_return": self._ret[t], "unit_cost": self._cost[t]}
        if breach:
            info["shield"] = breach
            info["flatten_cost"] = self.flatten()
        truncated = not breach and self._t >= self._end
        return self._observation(), reward, bool(breach), truncated, info

    @property
    def deciding(self) -> bool:
        """The next step's action counts (a decision bar, see EnvConfig.decision_bars)."""
        return (self._t - self._start) % self.config.decision_bars == 0

    def target(self, action: np.ndarray) -> float:
        """The position an action asks for (see EnvConfig.action_mapping and band)."""
        return position_after(self.config, self.position, action)

    def _breach(self, drawdown: float) -> str | None:
        if 1.0 - self.equity / self.day_open >= self.config.max_daily_loss:
            return "max_daily_loss"
        if drawdown >= self.config.max_drawdown:
            return "max_drawdown"
        return None

    def flatten(self) -> float:
        """Close the position at the current bar's close; return the cost (equity fraction)."""
        cost = abs(self.position) * self._cost[self._t]
        self.equity *= 1.0 - cost
        self.position = 0.0
        return cost


class Decisions(gym.Wrapper):
    """Training from decision to decision: one step applies the action, then holds until the
    next decision bar (or the episode's end) and returns the summed reward. The critic then
    learns what a decision earns over its holding period, not over one noisy minute."""

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        env: FxTradingEnv = self.env.unwrapped
        obs, total, terminated, truncated, info = env.step(action)
        unit_cost, market_return = info["unit_cost"], info["market_return"]
        while not (terminated or truncated or env.deciding):
            obs, reward, terminated, truncated, info = env.step(action)
            total += reward
            market_return += info["market_return"]
        # The holding period's market return and the decision bar's cost (agent/relabel.py).
        info = {**info, "market_return": market_return, "unit_cost": unit_cost}
        return obs, total, terminated, truncated, info

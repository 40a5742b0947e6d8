"""Benchmark of the agent: raw environment speed, TD3 training speed, seeded reproducibility.

Data: two weeks of the simulated market's M1 bars (closes and spreads) with the state
vector's columns, no database needed. Side by side with the baselines:
- env: ours (arrays prepared once, float arithmetic per step) against a pandas-per-step
  environment (the common tutorial style: the observation read with `.iloc` every step);
- TD3: our configuration (64x64 networks, one torch thread) against stable-baselines3's
  defaults (400x300, torch's default threads), same environment and number of steps;
- reproducibility: two trainings with one seed give identical validation metrics and
  identical network weights.
Last line of output: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from underdog.agent.config import AgentConfig, EnvConfig, TrainConfig  # noqa: E402
from underdog.agent.data import MarketData  # noqa: E402
from underdog.agent.env import FxTradingEnv  # noqa: E402
from underdog.agent.scaler import Scaler  # noqa: E402
from underdog.agent.train import make_model, torch_threads, train  # noqa: E402
from underdog.market.simulated import simulate_bars  # noqa: E402

START, END = datetime(2024, 3, 4, tzinfo=UTC), datetime(2024, 3, 16, tzinfo=UTC)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def market() -> MarketData:
    bars = simulate_bars("EURUSD", START, END, seed=11)
    n = len(bars)
    features = np.random.default_rng(0).normal(size=(n, 14))
    features[:, 0] = bars["close"].to_numpy()
    times = pd.DatetimeIndex(bars["time"]).as_unit("ns").asi8
    return MarketData("EURUSD", times, features, bars["close"].to_numpy(dtype="float64"),
                      bars["spread"].to_numpy(dtype="float64"))


class PandasEnv(gym.Env):
    """The baseline: same rules, but every step reads its row from a DataFrame."""

    def __init__(self, data: MarketData, scaler: Scaler, config: EnvConfig) -> None:
        self.frame = pd.DataFrame(scaler.transform(data.features, config.obs_clip))
        self.frame["close"], self.frame["spread"] = data.close, data.spread
        self.config = config
        self.observation_space = gym.spaces.Box(-10, 10, (15,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.position, self.equity = 0, 0.0, 1.0
        return self._obs(), {}

    def _obs(self):
        return np.append(self.frame.iloc[self.t, :14].to_numpy(np.float32), self.position)

    def step(self, action):
        c, row, nxt = self.config, self.frame.iloc[self.t], self.frame.iloc[self.t + 1]
        new = float(action[0]) if action[1] > 0 else self.position
        cost = abs(new - self.position) * c.leverage * (
            row["spread"] / row["close"] / 2 + c.slippage + c.commission)
        net = new * c.leverage * (nxt["close"] / row["close"] - 1) - cost
        self.equity *= 1 + net
        self.position, self.t = new, self.t + 1
        return self._obs(), net, False, self.t >= len(self.frame) - 1, {}


def steps_per_s(env: gym.Env, steps: int) -> float:
    actions = np.random.default_rng(1).uniform(-1, 1, (steps, 2)).astype(np.float32)
    env.reset(seed=0)
    started = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - started)


def td3_speed(data: MarketData, config: AgentConfig, steps: int, *, defaults: bool) -> float:
    env = FxTradingEnv(data, Scaler.fit(data.features), config.env, episode_bars=1440)
    if defaults:  # stable-baselines3's own TD3 network size and torch's thread count
        config = replace(config, train=replace(config.train, net_arch=(400, 300)))
    model = make_model(env, config)
    threads = torch.get_num_threads() if defaults else config.train.threads
    with torch_threads(threads):
        started = time.perf_counter()
        model.learn(total_timesteps=steps)
        return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-steps", type=int, default=200_000)
    parser.add_argument("--td3-steps", type=int, default=2_000)
    parser.add_argument("--seed-steps", type=int, default=1_000,
                        help="timesteps of each of the two same-seed trainings")
    args = parser.parse_args()
    data = market()
    config = AgentConfig()
    log(f"{len(data):,} simulated M1 bars, {START:%Y-%m-%d} .. {END:%Y-%m-%d}")

    scaler = Scaler.fit(data.features)
    ours = steps_per_s(FxTradingEnv(data, scaler, config.env, episode_bars=1440),
                       args.env_steps)
    pandas_env = steps_per_s(PandasEnv(data, scaler, config.env), args.env_steps // 20)
    log(f"env: ours {ours:,.0f} steps/s, pandas per step {pandas_env:,.0f} steps/s")

    warm = replace(config, train=replace(config.train, learning_starts=200))
    td3 = td3_speed(data, warm, args.td3_steps, defaults=False)
    td3_defaults = td3_speed(data, warm, args.td3_steps, defaults=True)
    log(f"TD3: ours {td3:,.0f} steps/s, SB3 defaults {td3_defaults:,.0f} steps/s")

    short = replace(config, train=TrainConfig(timesteps=args.seed_steps, learning_starts=200))
    first, second = (train(data, short) for _ in range(2))
    same_weights = all(torch.equal(a, b) for a, b in zip(
        first.model.policy.parameters(), second.model.policy.parameters(), strict=True))
    identical = first.validation == second.validation and same_weights
    log(f"same seed, two trainings: validation metrics and weights identical: {identical}")

    print(json.dumps({
        "bars": len(data), "env_steps_per_s": round(ours), "pandas_env_steps_per_s":
        round(pandas_env), "td3_steps_per_s": round(td3, 1),
        "td3_sb3_defaults_steps_per_s": round(td3_defaults, 1),
        "same_seed_identical": identical, "torch_default_threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()

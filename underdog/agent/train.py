"""TD3 (stable-baselines3) on the trading environment: seeded, on the training window only.

`train` fits the scaler on the training window, trains TD3 on random day-long episodes of
it, and scores the policy on the validation window against flat and buy-and-hold. It is
deployable only when its validation Sharpe's confidence interval lies above flat's 0 (an
interval, not a point estimate: a lucky window does not deploy a skill-less policy). The
same data, config and seed give the same weights and the same metrics (tested).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import TD3
from stable_baselines3.common.noise import NormalActionNoise

from underdog.agent.acting import GreedyTD3, policy_of
from underdog.agent.backtest import Books, Policy, buy_and_hold, flat, run_backtest
from underdog.agent.baselines import follow
from underdog.agent.config import AgentConfig, EnvConfig
from underdog.agent.data import MarketData, Split, walk_forward
from underdog.agent.env import Decisions, FxTradingEnv
from underdog.agent.history import market_transitions
from underdog.agent.performance import performance
from underdog.agent.relabel import RelabelBuffer
from underdog.agent.scaler import Scaler
from underdog.agent.stats import SharpeEstimate, books_sharpe
from underdog.agent.symmetry import SymmetricTD3Policy


@dataclass
class Trained:
    model: TD3
    scaler: Scaler
    config: AgentConfig
    data: MarketData  # the whole window: train + validation + test
    split: Split
    validation: dict[str, dict[str, float]]  # strategy -> metrics on the validation window
    steps_per_s: float
    validation_sharpe: SharpeEstimate  # the policy's, with its interval

    @property
    def deployable(self) -> bool:
        """Beats flat after costs on the validation window: the lower end of the Sharpe's
        confidence interval is above flat's Sharpe (0)."""
        return bool(self.validation_sharpe.low > 0.0)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's thread count is per process: set it for the block, then put it back."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def make_model(env: gym.Env, config: AgentConfig, history_rows: int = 0) -> TD3:
    """TD3 as `config.train` says; the buffer also makes room for `history_rows`."""
    t = config.train
    noise = NormalActionNoise(np.zeros(2), t.action_noise * np.ones(2))
    replay = {}
    if t.relabel > 0.0:
        replay = {"replay_buffer_class": RelabelBuffer,
                  "replay_buffer_kwargs": {"env_config": config.env, "share": t.relabel,
                                           "mirror": t.mirror}}
    kind = GreedyTD3 if t.acting == "greedy_levels" else TD3
    policy = SymmetricTD3Policy if t.symmetric else "MlpPolicy"
    return kind(policy, env, learning_rate=t.learning_rate,
               buffer_size=max(t.buffer_size, history_rows + t.timesteps),
               learning_starts=t.learning_starts, batch_size=t.batch_size, tau=t.tau,
               gamma=t.gamma, policy_delay=t.policy_delay, action_noise=noise,
               train_freq=t.train_freq, gradient_steps=t.gradient_steps,
               policy_kwargs={"net_arch": list(t.net_arch)}, seed=t.seed, device="cpu",
               verbose=0, **replay)


def train(data: MarketData, config: AgentConfig | None = None,
          split: Split | None = None) -> Trained:
    """Train on `split`'s training window (default: the config's one walk-forward split)."""
    config = config or AgentConfig()
    split = split or walk_forward(len(data), config.split.train, config.split.validation,
                                  config.split.purge_bars)
    training = data.window(split.train)
    scaler = Scaler.fit(training.features)
    hold = config.train.hold_bars or config.env.decision_bars
    env = FxTradingEnv(training, scaler, replace(config.env, decision_bars=hold),
                       episode_bars=config.train.episode_bars)
    history = market_transitions(env, hold) if config.train.history else None
    model = make_model(Decisions(env) if hold > 1 else env, config,
                       0 if history is None else len(history["obs"]))
    if history is not None:
        model.replay_buffer.add_history(history)
    with torch_threads(config.train.threads):
        started = time.perf_counter()
        model.learn(total_timesteps=config.train.timesteps)
        steps_per_s = config.train.timesteps / (time.perf_counter() - started)
    validation = compare(data.window(split.validation), scaler, config.env,
                         policy_of(model, config))
    return Trained(model, scaler, config, data, split,
                   {name: performance(books) for name, books in validation.items()},
                   steps_per_s, books_sharpe(validation["td3"]))


def on_decisions(env: FxTradingEnv, policy: Policy) -> Policy:
    """`policy`, asked only on decision bars (between them the env ignores any action, and a
    network's forward pass per bar is most of a backtest's time)."""
    last: list[np.ndarray] = []

    def act(obs: np.ndarray) -> np.ndarray:
        if env.deciding or not last:
            last[:] = [policy(obs)]
        return last[0]

    return act


def compare(data: MarketData, scaler: Scaler, env_config: EnvConfig, policy: Policy,
            schedules: dict[str, np.ndarray] | None = None) -> dict[str, Books]:
    """The policy, buy-and-hold, flat and any position `schedules` (one target per bar of
    `data`: see baselines) over one window, each on a fresh environment."""
    env = FxTradingEnv(data, scaler, env_config)
    books = {"td3": run_backtest(env, on_decisions(env, policy))}
    # The baselines pay the same costs but trade when they like: the decision interval and
    # the deadband are the agent's own constraints.
    rules = replace(env_config, decision_bars=1, band=0.0)
    for name, act in (("buy_and_hold", buy_and_hold), ("flat", flat)):
        books[name] = run_backtest(FxTradingEnv(data, scaler, rules), act)
    for name, positions in (schedules or {}).items():
        env = FxTradingEnv(data, scaler, rules)
        books[name] = run_backtest(env, follow(env, positions))
    return books

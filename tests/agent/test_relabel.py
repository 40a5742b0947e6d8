"""Counterfactual replay: a relabelled transition's reward is what the environment would have
paid and earned for that prior position and action (agent/relabel.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.agent.paths import FREE, env_on, hold, path
from underdog.agent.config import AgentConfig, SplitConfig, TrainConfig
from underdog.agent.env import Decisions
from underdog.agent.relabel import RelabelBuffer
from underdog.agent.train import train

CONFIG = replace(FREE, action_mapping="target", decision_bars=3, band=0.5, reward="return",
                 reward_scale=1000.0, drawdown_penalty=0.0, commission=0.00003,
                 slippage=0.00001)


def closes(n: int) -> np.ndarray:
    return 1.1 * np.exp(np.cumsum(np.random.default_rng(4).normal(0, 3e-4, n)))


def filled_buffer(prices: np.ndarray) -> tuple[RelabelBuffer, list[int]]:
    """Every decision of one episode in a buffer (share 1: every sample relabelled)."""
    env = Decisions(env_on(path(prices, spread=0.0002), CONFIG))
    buffer = RelabelBuffer(64, env.observation_space, env.action_space, device="cpu",
                           env_config=CONFIG, share=1.0)
    obs, _ = env.reset(seed=0)
    starts, done = [], False
    while not done:
        starts.append(env.unwrapped.bar)
        action = hold(0.8 if len(starts) % 2 else -0.8)
        next_obs, reward, terminated, truncated, info = env.step(action)
        buffer.add(obs, next_obs, action, np.array([reward]), np.array([terminated]), [info])
        obs, done = next_obs, terminated or truncated
    return buffer, starts


def replayed(prices: np.ndarray, bar: int, prior: float, action: np.ndarray) -> tuple:
    """The environment's own reward and next position for `action` from `prior` at `bar`."""
    env = Decisions(env_on(path(prices, spread=0.0002), CONFIG))
    env.reset(seed=0)
    inner = env.unwrapped
    inner._t = inner._start = bar
    inner.position = prior
    _, reward, _, _, info = env.step(action)
    return reward, info["position"]


def test_relabelled_rewards_are_the_environments() -> None:
    prices = closes(40)
    buffer, starts = filled_buffer(prices)
    np.random.seed(3)  # SB3 samples with numpy's global generator (seeded by TD3's seed)
    rows = np.arange(len(starts) - 1)  # the last one ends the episode mid-hold
    samples = buffer._get_samples(rows)
    priors = samples.observations[:, -1].numpy()
    assert len(set(np.round(priors, 3))) == len(rows)  # all relabelled, all different
    for i, row in enumerate(rows):
        action = samples.actions[i].numpy()
        reward, position = replayed(prices, starts[row], float(priors[i]), action)
        assert float(samples.rewards[i, 0]) == pytest.approx(reward, rel=1e-5, abs=1e-6)
        assert float(samples.next_observations[i, -1]) == pytest.approx(position, abs=1e-6)


def test_a_transition_that_ended_the_episode_is_left_alone() -> None:
    prices = closes(10)
    buffer, starts = filled_buffer(prices)
    buffer.dones[1, 0] = 1.0  # as if the risk shield had flattened mid-hold
    samples = buffer._get_samples(np.array([1]))
    assert float(samples.rewards[0, 0]) == pytest.approx(float(buffer.rewards[1, 0]))
    assert np.array_equal(samples.actions[0].numpy(), buffer.actions[1, 0])


def test_td3_trains_on_the_relabelling_buffer() -> None:
    config = AgentConfig(env=CONFIG, split=SplitConfig(purge_bars=5),
                         train=TrainConfig(timesteps=300, learning_starts=50, batch_size=16,
                                           episode_bars=60, net_arch=(8,), relabel=1.0))
    trained = train(path(closes(600), spread=0.0002), config)
    buffer = trained.model.replay_buffer
    assert isinstance(buffer, RelabelBuffer) and buffer.share == 1.0
    assert np.count_nonzero(buffer.market_return[:buffer.pos]) > 0.9 * buffer.pos

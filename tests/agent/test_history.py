"""Replay of the whole training window (agent/history.py): each bar's holding period is the
transition the environment gives for a decision there, relabelled like any other, and
nothing of it comes from after the training window."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.agent.paths import env_on, hold, path
from tests.agent.test_relabel import CONFIG, closes, replayed
from underdog.agent.config import AgentConfig, SplitConfig, TrainConfig
from underdog.agent.env import Decisions, observation
from underdog.agent.history import market_transitions
from underdog.agent.relabel import RelabelBuffer
from underdog.agent.train import train

PRICES = closes(40)
HOLD = CONFIG.decision_bars  # 3


def history_buffer(size: int = 64, share: float = 1.0) -> tuple[RelabelBuffer, dict]:
    env = env_on(path(PRICES, spread=0.0002), CONFIG)
    buffer = RelabelBuffer(size, env.observation_space, env.action_space, device="cpu",
                           env_config=CONFIG, share=share)
    return buffer, market_transitions(env, HOLD)


def test_each_bars_transition_is_what_a_decision_there_gives() -> None:
    env = env_on(path(PRICES, spread=0.0002), CONFIG)
    rows = market_transitions(env, HOLD)
    assert len(rows["obs"]) == len(PRICES) - HOLD  # every bar with a whole holding period
    for t in (0, 7, len(PRICES) - HOLD - 1):
        decisions = Decisions(env_on(path(PRICES, spread=0.0002), CONFIG))
        decisions.reset(seed=0)
        inner = decisions.unwrapped
        inner._t = inner._start = t
        start = inner._observation()
        next_obs, _, _, _, info = decisions.step(hold(0.0))
        assert inner.bar == t + HOLD
        np.testing.assert_array_equal(rows["obs"][t], start)
        np.testing.assert_array_equal(rows["next_obs"][t], next_obs)
        assert rows["market_return"][t] == pytest.approx(info["market_return"], rel=1e-12)
        assert rows["unit_cost"][t] == pytest.approx(info["unit_cost"], rel=1e-12)


def test_history_rows_are_relabelled_into_the_environments_own_rewards() -> None:
    buffer, rows = history_buffer()
    buffer.add_history(rows)
    assert buffer.pos == len(rows["obs"])
    np.random.seed(7)
    picked = np.arange(buffer.pos)
    samples = buffer._get_samples(picked)
    for i, t in enumerate(picked):
        prior = float(samples.observations[i, -1])
        reward, position = replayed(PRICES, int(t), prior, samples.actions[i].numpy())
        assert float(samples.rewards[i, 0]) == pytest.approx(reward, rel=1e-5, abs=1e-6)
        assert float(samples.next_observations[i, -1]) == pytest.approx(position, abs=1e-6)


def test_history_needs_full_relabelling_and_room() -> None:
    buffer, rows = history_buffer(share=0.5)
    with pytest.raises(ValueError, match="relabel 1.0"):
        buffer.add_history(rows)
    buffer, rows = history_buffer(size=10)
    with pytest.raises(ValueError, match="room in the buffer"):
        buffer.add_history(rows)
    with pytest.raises(ValueError, match="no 3-bar holding period"):
        market_transitions(env_on(path(PRICES[:3], spread=0.0002), CONFIG), HOLD)
    with pytest.raises(ValueError, match="history replay needs relabel 1.0"):
        TrainConfig(history=True, relabel=0.5)
    with pytest.raises(ValueError, match="hold_bars must be"):
        TrainConfig(hold_bars=-1)


def test_training_replays_its_own_window_and_acts_on_every_bar() -> None:
    # Decides every bar, learns 3-bar holds, replays every bar of the training window.
    config = AgentConfig(env=replace(CONFIG, decision_bars=1, band=0.0),
                         split=SplitConfig(purge_bars=5),
                         train=TrainConfig(timesteps=120, learning_starts=50, batch_size=16,
                                           episode_bars=60, net_arch=(8,), relabel=1.0,
                                           hold_bars=HOLD, history=True,
                                           acting="greedy_levels", symmetric=True))
    data = path(closes(600), spread=0.0002)
    trained = train(data, config)
    window = trained.split.train
    n_history = window.stop - window.start - HOLD
    buffer = trained.model.replay_buffer
    assert buffer.pos == n_history + config.train.timesteps
    # The last history row ends on the training window's last bar: nothing after it.
    training = env_on(data.window(window), config.env, scaler=trained.scaler)
    last = observation(training.scaled[-1], 0.0)
    np.testing.assert_array_equal(buffer.next_observations[n_history - 1, 0], last)
    # TD3's own steps are holds of 3 bars: their market returns are 3-bar sums.
    returns = training.market_returns
    sums = {round(float(returns[t:t + HOLD].sum()), 12) for t in range(len(returns) - HOLD + 1)}
    own = buffer.market_return[n_history:buffer.pos, 0]
    ended = buffer.dones[n_history:buffer.pos, 0] + buffer.timeouts[n_history:buffer.pos, 0]
    assert all(round(float(r), 12) in sums for r, e in zip(own, ended, strict=True) if not e)

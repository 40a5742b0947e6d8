"""The trading environment: Gymnasium's contract, costs, reward, the risk shield, no lookahead."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from tests.agent.paths import FREE, KEEP, env_on, hold, path
from underdog.agent.config import EnvConfig
from underdog.agent.env import Decisions, DifferentialSharpe
from underdog.agent.scaler import Scaler


def test_passes_gymnasiums_check_env() -> None:
    closes = 1.1 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 1e-4, 3000)))
    env = env_on(path(closes, spread=0.0001), EnvConfig(), episode_bars=500)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*render modes.*")
        check_env(env, skip_render_check=True)


def test_costs_and_returns_by_hand() -> None:
    """Buy at 1.00 paying half the spread + slippage + commission, hold, sell at 1.02."""
    config = EnvConfig(leverage=2.0, commission=0.0001, slippage=0.00005, max_daily_loss=0.5,
                       max_drawdown=0.9)
    env = env_on(path([1.00, 1.01, 1.02, 1.02], spread=0.0002), config)
    env.reset(seed=0)
    unit_cost = 2.0 * (0.0002 / 1.00 / 2 + 0.00005 + 0.0001)
    _, _, _, _, info = env.step(hold(0.5))
    assert info["cost"] == pytest.approx(0.5 * unit_cost, rel=1e-12)
    assert info["net_return"] == pytest.approx(0.5 * 2.0 * 0.01 - 0.5 * unit_cost, rel=1e-12)
    _, _, _, _, info = env.step(KEEP)  # signal <= 0: the position is held, nothing paid
    assert (info["position"], info["cost"]) == (0.5, 0.0)
    assert info["net_return"] == pytest.approx(0.5 * 2.0 * (1.02 / 1.01 - 1), rel=1e-12)
    expected = (1 + 0.01 - 0.5 * unit_cost) * (1 + 1.02 / 1.01 - 1)
    assert env.equity == pytest.approx(expected, rel=1e-12)


def test_the_last_step_truncates_the_episode() -> None:
    env = env_on(path([1.0, 1.0, 1.0]))
    env.reset(seed=0)
    assert env.step(KEEP)[3] is False
    _, _, terminated, truncated, _ = env.step(KEEP)
    assert (terminated, truncated) == (False, True)


def test_differential_sharpe_by_hand() -> None:
    dsr = DifferentialSharpe(eta=0.1, var_floor=1e-12, clip=1e9)
    assert dsr(0.01) == 0.0  # A = B = 0: no Sharpe ratio to move yet
    a, b = 0.001, 0.00001  # after one update: A = eta r, B = eta r^2
    r = -0.02
    da, db = r - a, r * r - b
    assert dsr(r) == pytest.approx((b * da - 0.5 * a * db) / (b - a * a) ** 1.5, rel=1e-12)


def test_reward_subtracts_the_drawdown_penalty_beyond_the_threshold() -> None:
    config = EnvConfig(leverage=1.0, commission=0.0, slippage=0.0, drawdown_penalty=10.0,
                       drawdown_threshold=0.02, dsr_eta=0.0, max_daily_loss=0.5,
                       max_drawdown=0.9)
    env = env_on(path([1.00, 0.97, 0.97]), config)  # eta 0: the DSR term stays 0
    env.reset(seed=0)
    _, reward, _, _, _ = env.step(hold(1.0))
    assert reward == pytest.approx(-10.0 * (0.03 - 0.02), rel=1e-9)


def test_the_shield_flattens_on_the_daily_loss_limit() -> None:
    config = EnvConfig(leverage=1.0, commission=0.0, slippage=0.0, max_daily_loss=0.05,
                       max_drawdown=0.5)
    env = env_on(path([1.00, 0.98, 0.94, 0.90, 0.91], spread=0.0002), config)
    env.reset(seed=0)
    env.step(hold(1.0))  # -2 %
    obs, _, terminated, truncated, info = env.step(KEEP)  # -6 % on the day: breach
    assert terminated and not truncated and info["shield"] == "max_daily_loss"
    assert env.position == 0.0 and obs[-1] == 0.0
    assert info["flatten_cost"] == pytest.approx(0.0001 / 0.94, rel=1e-12)


def test_losses_on_different_days_do_not_add_up_to_a_daily_breach() -> None:
    """-4 % on each of three days: no daily breach, but the 10 % total drawdown is hit."""
    config = EnvConfig(leverage=1.0, commission=0.0, slippage=0.0, max_daily_loss=0.05,
                       max_drawdown=0.10)
    env = env_on(path([1.0, 0.96, 0.9216, 0.884736], freq="D"), config)
    env.reset(seed=0)
    assert "shield" not in env.step(hold(1.0))[4]
    assert "shield" not in env.step(KEEP)[4]
    info = env.step(KEEP)[4]  # 1 - 0.96^3 = 11.5 % below the peak
    assert info["shield"] == "max_drawdown"
    assert math.isclose(env.equity, 0.96**3, rel_tol=1e-12)


def test_observations_and_rewards_never_see_a_later_price() -> None:
    """Changing every price after bar k changes nothing the agent saw up to its decision at k."""
    rng = np.random.default_rng(4)
    closes = 1.1 * np.exp(np.cumsum(rng.normal(0, 1e-4, 200)))
    future = closes.copy()
    future[101:] *= 1.05
    actions = rng.uniform(-1, 1, (100, 2)).astype(np.float32)
    seen = []
    for prices in (closes, future):
        data = path(prices)
        data.features[101:] += 3.0  # later features change too
        env = env_on(data, scaler=Scaler.fit(path(closes).features))
        obs, _ = env.reset(seed=0)
        trace = [obs]
        for action in actions:  # decisions at bars 0..99; the last reward uses close 100
            obs, reward, *_ = env.step(action)
            trace += [obs, reward]
        seen.append(trace)
    for a, b in zip(*seen, strict=True):
        np.testing.assert_array_equal(a, b)



def test_levels_mapping_rounds_the_target_and_return_reward_is_the_scaled_net() -> None:
    config = EnvConfig(leverage=1.0, commission=0.0, slippage=0.0, max_daily_loss=0.5,
                       max_drawdown=0.9, action_mapping="levels", reward="return",
                       reward_scale=100.0, drawdown_penalty=0.0)
    env = env_on(path([1.00, 1.01, 1.00, 1.02, 1.02]), config)
    env.reset(seed=0)
    moves = []
    for action in ([0.7, -1.0], [0.4, -1.0], [-0.6, 1.0], [0.2, 0.5]):
        _, reward, _, _, info = env.step(np.array(action, dtype=np.float32))
        moves.append(info["position"])
        assert reward == pytest.approx(100.0 * info["net_return"], rel=1e-12)
    assert moves == [1.0, 0.0, -1.0, 0.0]  # rounded, and traded whatever the signal says
    env = env_on(path([1.00, 1.01, 1.00]), replace(config, action_mapping="target"))
    env.reset(seed=0)
    assert [env.step(np.array(a, dtype=np.float32))[4]["position"] for a in
            ([0.7, -1.0], [-1.5, -1.0])] == [pytest.approx(0.7), -1.0]  # clipped, traded
    with pytest.raises(ValueError, match="action_mapping"):
        EnvConfig(action_mapping="nudge")
    with pytest.raises(ValueError, match="reward"):
        EnvConfig(reward="pnl")


def test_between_decision_bars_the_position_is_held() -> None:
    config = replace(FREE, action_mapping="target", decision_bars=3)
    env = env_on(path([1.0, 1.01, 1.02, 1.03, 1.04, 1.05, 1.06]), config)
    env.reset(seed=0)
    moves = [env.step(hold(target))[4]["position"] for target in (0.5, -1.0, 1.0, -0.25, 1.0)]
    assert moves == [0.5, 0.5, 0.5, -0.25, -0.25]  # decisions at bars 0 and 3 only


def test_the_deadband_ignores_small_moves_and_keeps_every_position_reachable() -> None:
    config = replace(FREE, action_mapping="target", band=0.5)
    env = env_on(path([1.0] * 8), config)
    env.reset(seed=0)
    # the actor's [-1, 1] spans [-1.5, 1.5]: 0.3 asks for 0.45 (inside the band: held)
    moves = [env.step(hold(a))[4]["position"] for a in (0.3, 0.4, 0.9, 0.5, -0.2, -1.0)]
    assert moves == [0.0, pytest.approx(0.6), 1.0, 1.0, pytest.approx(-0.3), -1.0]
    play = env_on(path([1.0] * 4), replace(config, hysteresis="play"))
    play.reset(seed=0)
    # beyond the band the position follows the target, `band` behind it
    assert [play.step(hold(a))[4]["position"] for a in (0.6, 1.0, 0.5)] == [
        pytest.approx(0.4), 1.0, 1.0]
    with pytest.raises(ValueError, match="band"):
        EnvConfig(band=-0.1)
    with pytest.raises(ValueError, match="hysteresis"):
        EnvConfig(hysteresis="sticky")


def test_training_steps_go_from_decision_to_decision_with_the_summed_reward() -> None:
    config = replace(FREE, action_mapping="target", decision_bars=2, reward="return",
                     reward_scale=1.0, drawdown_penalty=0.0)
    closes = [1.0, 1.01, 1.03, 1.02, 1.04]
    env = env_on(path(closes), config)
    env.reset(seed=0)
    wrapped = Decisions(env_on(path(closes), config))
    wrapped.reset(seed=0)
    _, reward, _, _, info = wrapped.step(hold(1.0))
    bars = [env.step(hold(1.0))[1] for _ in range(2)]
    assert reward == pytest.approx(sum(bars), rel=1e-12) and info["t"] == 1
    _, _, terminated, truncated, info = wrapped.step(hold(-1.0))
    assert info["t"] == 3 and truncated and not terminated  # the episode ends mid-hold

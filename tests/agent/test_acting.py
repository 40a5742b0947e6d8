"""Acting through the critics (agent/acting.py): the greedy choice over -1, 0, +1, the
critics' backup of that choice, and mirrored counterfactual replay (agent/relabel.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.agent.paths import path
from tests.agent.test_relabel import CONFIG, closes, filled_buffer, replayed
from underdog.agent.acting import LEVELS, GreedyLevelsTarget, GreedyTD3, policy_of
from underdog.agent.config import AgentConfig, SplitConfig, TrainConfig
from underdog.agent.relabel import RelabelBuffer
from underdog.agent.symmetry import DIRECTIONAL
from underdog.agent.train import train
from underdog.features.registry import FEATURE_NAMES

GREEDY = AgentConfig(env=replace(CONFIG, band=0.0),
                     split=SplitConfig(purge_bars=5),
                     train=TrainConfig(timesteps=300, learning_starts=50, batch_size=16,
                                       episode_bars=60, net_arch=(8,), relabel=1.0,
                                       mirror=True, acting="greedy_levels"))


@pytest.fixture(scope="module")
def greedy():
    return train(path(closes(600), spread=0.0002), GREEDY)


def values(critic: torch.nn.Module, obs: np.ndarray) -> np.ndarray:
    """The critics' mean value of each level from `obs`, computed here on its own."""
    out = []
    for level in LEVELS:
        action = torch.tensor([[level, 1.0]])
        with torch.no_grad():
            q = critic(torch.as_tensor(obs, dtype=torch.float32).reshape(1, -1), action)
        out.append(float(torch.cat(q, dim=1).mean()))
    return np.array(out)


def test_a_greedy_policy_picks_the_level_its_critics_value_most(greedy) -> None:
    assert isinstance(greedy.model, GreedyTD3)
    act = policy_of(greedy.model, greedy.config)
    rng = np.random.default_rng(1)
    for _ in range(50):
        obs = rng.normal(size=15).astype(np.float32)
        obs[-1] = rng.choice(LEVELS)  # the position it decides from
        action = act(obs)
        best = LEVELS[int(np.argmax(values(greedy.model.critic, obs)))]
        assert tuple(action) == (best, 1.0)
    actor = policy_of(greedy.model, replace(greedy.config,
                                            train=replace(greedy.config.train, acting="actor")))
    assert not np.array_equal(actor(obs), act(obs))  # the actor's own output differs


def test_the_critics_back_up_the_greedy_level_and_polyak_still_moves_the_target_actor(
        greedy) -> None:
    target = greedy.model.actor_target
    assert isinstance(target, GreedyLevelsTarget)
    own = list(greedy.model.policy.actor_target.parameters())
    assert [id(p) for p in target.parameters()] == [id(p) for p in own]
    obs = np.random.default_rng(2).normal(size=(7, 15)).astype(np.float32)
    with torch.no_grad():
        chosen = target(torch.as_tensor(obs)).numpy()
    for row, action in zip(obs, chosen, strict=True):
        best = LEVELS[int(np.argmax(values(greedy.model.critic_target, row)))]
        assert tuple(action) == (best, 1.0)


def test_greedy_acting_is_validated() -> None:
    with pytest.raises(ValueError, match="acting must be"):
        TrainConfig(acting="epsilon")
    with pytest.raises(ValueError, match="relabel is a share"):
        TrainConfig(relabel=1.5)


def test_mirrored_samples_are_the_mirrored_markets_exact_transitions() -> None:
    prices = closes(40)
    buffer, starts = filled_buffer(prices)
    buffer.mirror = True
    directional = [FEATURE_NAMES.index(name) for name in DIRECTIONAL]
    np.random.seed(5)
    rows = np.arange(len(starts) - 1)
    plain_obs = buffer.observations[rows, 0]
    samples = buffer._get_samples(rows)
    mirrored = 0
    for i, row in enumerate(rows):
        obs = samples.observations[i].numpy()
        flipped = not np.allclose(obs[:-1], plain_obs[i][:-1])
        sign = -1.0 if flipped else 1.0
        if flipped:
            mirrored += 1
            np.testing.assert_allclose(obs[directional], -plain_obs[i][directional])
            others = [j for j in range(14) if j not in directional]
            np.testing.assert_allclose(obs[others], plain_obs[i][others])
        # Un-mirrored, it is the environment's own transition for that prior and action.
        action = samples.actions[i].numpy() * np.array([sign, 1.0], dtype=np.float32)
        reward, position = replayed(prices, starts[row], sign * float(obs[-1]), action)
        assert float(samples.rewards[i, 0]) == pytest.approx(reward, rel=1e-5, abs=1e-6)
        assert sign * float(samples.next_observations[i, -1]) == pytest.approx(position,
                                                                               abs=1e-6)
    assert 0 < mirrored < len(rows)


def test_the_relabelling_buffer_is_built_with_mirroring(greedy) -> None:
    buffer = greedy.model.replay_buffer
    assert isinstance(buffer, RelabelBuffer) and buffer.mirror

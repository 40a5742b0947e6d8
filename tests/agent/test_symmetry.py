"""Critics symmetric under mirroring the pair (agent/symmetry.py): exact for any input, before
and after training, kept through a save and load, and a greedy policy that mirrors."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
import torch
from stable_baselines3 import TD3

from tests.agent.paths import env_on, path
from tests.agent.test_acting import GREEDY
from tests.agent.test_relabel import closes
from underdog.agent.acting import LEVELS, policy_of
from underdog.agent.symmetry import (
    ACTION_MIRROR,
    DIRECTIONAL,
    SymmetricCritic,
    SymmetricTD3Policy,
    observation_mirror,
)
from underdog.agent.train import make_model, train
from underdog.features.registry import FEATURE_NAMES

SYMMETRIC = replace(GREEDY, train=replace(GREEDY.train, mirror=False, symmetric=True))


@pytest.fixture(scope="module")
def trained():
    return train(path(closes(600), spread=0.0002), SYMMETRIC)


def untrained(config):
    return make_model(env_on(path(closes(100), spread=0.0002), config.env), config)


def critic_values(critic: torch.nn.Module, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        q = critic(torch.as_tensor(obs), torch.as_tensor(actions))
    return torch.cat(q, dim=1).numpy()


def random_inputs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    # Far outside any scaled feature's range too: the symmetry is the network's, not the data's.
    rng = np.random.default_rng(seed)
    obs = (rng.normal(size=(n, 15)) * rng.choice([1.0, 30.0], size=(n, 1))).astype(np.float32)
    return obs, rng.uniform(-1, 1, size=(n, 2)).astype(np.float32)


def test_the_mirror_negates_the_directional_features_and_the_position_only() -> None:
    flip = observation_mirror(15)
    negated = {FEATURE_NAMES[i] for i in np.flatnonzero(flip[:-1] < 0)}
    assert negated == set(DIRECTIONAL) and flip[-1] == -1.0
    assert list(ACTION_MIRROR) == [-1.0, 1.0]  # the target mirrors, the entry signal not


@pytest.mark.parametrize("stage", ["untrained", "trained"])
def test_every_critic_values_a_state_as_it_values_its_mirror(trained, stage) -> None:
    model = trained.model if stage == "trained" else untrained(SYMMETRIC)
    assert isinstance(model.critic, SymmetricCritic)
    assert isinstance(model.critic_target, SymmetricCritic)
    obs, actions = random_inputs(200, seed=1)
    mirrored = (obs * observation_mirror(15), actions * ACTION_MIRROR)
    for critic in (model.critic, model.critic_target):
        direct = critic_values(critic, obs, actions)
        np.testing.assert_allclose(critic_values(critic, *mirrored), direct, atol=1e-5)
        assert np.ptp(direct) > 0  # not a constant
        with torch.no_grad():
            np.testing.assert_allclose(
                critic.q1_forward(*map(torch.as_tensor, mirrored)).numpy(), direct[:, :1],
                atol=1e-5)


def test_a_plain_critic_is_not_symmetric() -> None:
    # The check above can fail: the same inputs through TD3's own critic differ.
    plain = untrained(GREEDY)
    obs, actions = random_inputs(50, seed=2)
    direct = critic_values(plain.critic, obs, actions)
    mirrored = critic_values(plain.critic, obs * observation_mirror(15), actions * ACTION_MIRROR)
    assert np.abs(mirrored - direct).max() > 1e-3


def test_the_greedy_policy_takes_the_mirrored_level_in_the_mirrored_market(trained) -> None:
    act = policy_of(trained.model, trained.config)
    obs, _ = random_inputs(100, seed=3)
    obs[:, -1] = np.random.default_rng(4).choice(LEVELS, size=100)
    levels = np.array([act(row)[0] for row in obs])
    mirrored = np.array([act(row)[0] for row in obs * observation_mirror(15)])
    np.testing.assert_array_equal(mirrored, -levels)
    assert len(set(levels)) > 1


def test_a_saved_symmetric_policy_loads_with_its_symmetry(trained) -> None:
    artifact = io.BytesIO()
    trained.model.save(artifact)
    loaded = TD3.load(io.BytesIO(artifact.getvalue()), device="cpu")
    assert isinstance(loaded.policy, SymmetricTD3Policy)
    assert isinstance(loaded.critic, SymmetricCritic)
    obs, actions = random_inputs(20, seed=5)
    np.testing.assert_allclose(critic_values(loaded.critic, obs, actions),
                               critic_values(trained.model.critic, obs, actions), atol=1e-6)

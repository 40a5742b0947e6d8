"""Counterfactual replay: the market does not care what the agent did, so any action's reward
can be recomputed from a stored transition.

A transition holds the market's return over its holding period (`market_return`, leverage
included) and the cost of a unit change of position at the decision bar (`unit_cost`).
From those, the net return of any (prior position, action) pair is exact:
p' x market_return - |p' - p| x unit_cost, with p' = `env.position_after`. `RelabelBuffer`
replaces a share of each sampled batch's prior positions and actions with uniform random
ones and recomputes their rewards and next positions. The critic then sees the whole
reward surface over actions at every market state instead of a noisy neighbourhood of
the policy's own action (with a per-decision edge of ~0.1 noise standard deviations, the
actor's gradient dQ/da was mostly noise), and the cost of every move from every position.

`mirror`: half the relabelled samples are shown as the mirrored market sees them (the
pair's price upside down: directional features, positions and targets negated, the reward
unchanged). A currency pair has no preferred direction; without it the critics learned a
side from the training window's drift or from noise in the direction-free features (a
greedy policy held short 91 % of a year).

Not relabelled: transitions that ended the episode (the risk shield flattened the position
mid-period, so the holding period's return no longer follows from p'), and the drawdown
penalty (zero at the learning configuration's leverage unless a day loses 2 %).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.type_aliases import ReplayBufferSamples

from underdog.agent.config import EnvConfig
from underdog.agent.symmetry import observation_mirror


def positions_after(c: EnvConfig, p: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """`env.position_after` for arrays of prior positions and actions' targets ("target"
    action mapping: the target always traded, through the deadband)."""
    target = np.clip(targets, -1.0, 1.0)
    if c.band == 0.0:
        return target
    wanted = target * (1.0 + c.band)
    moved = np.abs(wanted - p) > c.band
    if c.hysteresis == "play":
        wanted = wanted - c.band * np.sign(wanted - p)
    return np.where(moved, np.clip(wanted, -1.0, 1.0), p)


class RelabelBuffer(ReplayBuffer):
    """A replay buffer that relabels `share` of each batch with random positions and actions
    (see the module's docstring). `env_config` and `reward_scale` give the reward's terms."""

    def __init__(self, *args: Any, env_config: EnvConfig, share: float = 0.5,
                 mirror: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if env_config.action_mapping != "target" or env_config.reward != "return":
            raise ValueError("relabelling needs action_mapping 'target' and reward 'return'")
        self.env_config, self.share, self.mirror = env_config, share, mirror
        self.flip = observation_mirror(self.obs_shape[0])
        self.market_return = np.zeros((self.buffer_size, self.n_envs), dtype=np.float64)
        self.unit_cost = np.zeros((self.buffer_size, self.n_envs), dtype=np.float64)

    def add(self, obs: np.ndarray, next_obs: np.ndarray, action: np.ndarray, reward: np.ndarray,
            done: np.ndarray, infos: list[dict[str, Any]]) -> None:
        self.market_return[self.pos] = [info["market_return"] for info in infos]
        self.unit_cost[self.pos] = [info["unit_cost"] for info in infos]
        super().add(obs, next_obs, action, reward, done, infos)

    def add_history(self, transitions: dict[str, np.ndarray]) -> None:
        """Append market transitions (`history.market_transitions`) as relabel-only rows:
        their action and reward are placeholders that sampling always replaces."""
        n = len(transitions["obs"])
        if self.share < 1.0 or self.pos + n > self.buffer_size:
            raise ValueError(f"{n} history rows need relabel 1.0 and room in the buffer "
                             f"({self.buffer_size - self.pos} left)")
        rows = slice(self.pos, self.pos + n)
        self.observations[rows, 0] = transitions["obs"]
        self.next_observations[rows, 0] = transitions["next_obs"]
        self.market_return[rows, 0] = transitions["market_return"]
        self.unit_cost[rows, 0] = transitions["unit_cost"]
        self.pos += n
        self.full = self.full or self.pos == self.buffer_size
        self.pos %= self.buffer_size

    def _get_samples(self, batch_inds: np.ndarray, env: Any = None) -> ReplayBufferSamples:
        samples = super()._get_samples(batch_inds, env)
        # n_envs is 1 here (one environment), so env index 0 is the sampled one.
        picked = np.random.random(len(batch_inds)) < self.share
        picked &= ~self.dones[batch_inds, 0].astype(bool)
        if not picked.any():
            return samples
        rows = batch_inds[picked]
        n = len(rows)
        prior = np.random.uniform(-1.0, 1.0, n)
        actions = np.random.uniform(-1.0, 1.0, (n, self.action_dim)).astype(np.float32)
        new = positions_after(self.env_config, prior, actions[:, 0].astype(np.float64))
        net = new * self.market_return[rows, 0] - np.abs(new - prior) * self.unit_cost[rows, 0]
        obs = samples.observations.clone()
        next_obs = samples.next_observations.clone()
        act = samples.actions.clone()
        rewards = samples.rewards.clone()
        mask = self.to_torch(picked)
        obs[mask, -1] = self.to_torch(prior.astype(np.float32))
        next_obs[mask, -1] = self.to_torch(new.astype(np.float32))
        act[mask] = self.to_torch(actions)
        rewards[mask, 0] = self.to_torch((self.env_config.reward_scale * net).astype(np.float32))
        if self.mirror:
            self._mirror(picked, obs, act, next_obs)
        return ReplayBufferSamples(obs, act, next_obs, samples.dones, rewards)

    def _mirror(self, picked: np.ndarray, obs: Any, act: Any, next_obs: Any) -> None:
        """Half the relabelled samples, as the mirrored market sees them: directional
        features, positions and the target negated, the reward unchanged ((-p') x (-R)).
        The critic then cannot hold a side for the training window's drift or for noise
        in the direction-free features (measured: a greedy policy short 91 % of a year)."""
        rows = picked & (np.random.random(len(picked)) < 0.5)
        if not rows.any():
            return
        mask, flip = self.to_torch(rows), self.to_torch(self.flip)
        obs[mask] *= flip
        next_obs[mask] *= flip
        act[mask, 0] *= -1.0

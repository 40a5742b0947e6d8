"""Critics that cannot prefer a side of the market.

A currency pair has no preferred direction: EURUSD falling is USDEUR rising. Seen upside
down, a market state s is M s (the directional features negated), a position p is -p and a
target a is -a, and every trade earns the same ((-p) x (-return) = p x return). So the true
value satisfies Q(s, p, a) = Q(M s, -p, -a). A critic trained on one window does not: it
learns a side from the window's drift or from the direction-free features (volatility,
hour) that shift between windows. Mirrored replay (`relabel.py`) makes the training data
symmetric, but the fitted network is symmetric only near it: measured, a greedy policy
held long 96 % of a fresh test window.

`SymmetricCritic` builds the symmetry in: each Q network f is read as
(f(s, p, a) + f(M s, -p, -a)) / 2, exactly symmetric for every input, seen or not.
"""

from __future__ import annotations

import numpy as np
import torch
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.td3.policies import TD3Policy

from underdog.features.registry import FEATURE_NAMES

# Features that change sign when the pair's price is mirrored: as z-scores, negated (rsi's
# training mean is about 50, so 100 - rsi reads as about -z). The rest (volatility, volume,
# regime, macro) read the same either way.
DIRECTIONAL = ("close", "log_return", "macd_hist_pct", "rsi", "sentiment")


def observation_mirror(n_obs: int) -> np.ndarray:
    """Per observation entry (the features, then the position): -1 where mirroring negates."""
    flip = np.ones(n_obs, dtype=np.float32)
    flip[[FEATURE_NAMES.index(name) for name in DIRECTIONAL]] = -1.0
    flip[-1] = -1.0
    return flip


# The action (target, entry signal): the target is a position, the signal is not.
ACTION_MIRROR = np.array([-1.0, 1.0], dtype=np.float32)


class SymmetricCritic(ContinuousCritic):
    """TD3's twin critics, each the mean of its network on the state and on its mirror."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        flip = observation_mirror(self.observation_space.shape[0])
        # Not persistent: derived from FEATURE_NAMES, not learned, so not in saved weights.
        self.register_buffer("obs_mirror", torch.as_tensor(flip), persistent=False)
        self.register_buffer("action_mirror", torch.as_tensor(ACTION_MIRROR), persistent=False)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        direct = super().forward(obs, actions)
        mirrored = super().forward(obs * self.obs_mirror, actions * self.action_mirror)
        return tuple((q + m) / 2 for q, m in zip(direct, mirrored, strict=True))

    def q1_forward(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        direct = super().q1_forward(obs, actions)
        return (direct + super().q1_forward(obs * self.obs_mirror,
                                            actions * self.action_mirror)) / 2


class SymmetricTD3Policy(TD3Policy):
    """TD3's policy with `SymmetricCritic`s (the critic and its target)."""

    def make_critic(self, features_extractor=None) -> SymmetricCritic:  # noqa: ANN001 (SB3's)
        kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        return SymmetricCritic(**kwargs).to(self.device)

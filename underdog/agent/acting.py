"""How a trained TD3 acts: through its actor, or greedily through its critic.

`TrainConfig.acting` picks it, and it is stored with each policy, so validation, the
walk-forward test, the stored policy's evaluation and `underdog agent act` all act the same
way (`policy_of`).

- "actor": TD3's deterministic actor, a smooth function of the observation. On a modest
  edge its output moves with every feature's noise: it either churns (no deadband) or
  freezes behind a deadband (README, "Does the agent learn?").
- "greedy_levels": at each decision, the target position among -1, 0 and +1 that the
  critic values most from the current position, argmax_a Q(s, p, a) (the mean of TD3's
  twin critics). The reward charges the cost of moving from p, so staying wins unless
  moving pays: a cost-aware hysteresis, like the oracle's, learned rather than tuned. The
  actor still trains as TD3's target policy; only the deployed choice differs. Best with
  counterfactual replay (`TrainConfig.relabel`, `history`): the critic then knows every
  action's value from every position, not only near the actor's own; and with symmetric
  critics (`symmetric`), which cannot prefer a side.
"""

from __future__ import annotations

import numpy as np
import torch
from stable_baselines3 import TD3

from underdog.agent.backtest import Policy
from underdog.agent.config import AgentConfig

LEVELS = (-1.0, 0.0, 1.0)


def policy_of(model: TD3, config: AgentConfig) -> Policy:
    """The deployed policy of a trained model: obs -> action, as `config.train.acting` says."""
    if config.train.acting == "greedy_levels":
        return greedy_levels(model)
    return lambda obs: model.predict(obs, deterministic=True)[0]


def greedy_levels(model: TD3) -> Policy:
    """argmax over LEVELS of the critics' mean value; the action's second component (the
    "gated" mapping's entry signal) is 1: trade to the chosen level."""
    candidates = np.array([[level, 1.0] for level in LEVELS], dtype=np.float32)
    actions = torch.as_tensor(candidates)
    critic = model.critic

    def act(obs: np.ndarray) -> np.ndarray:
        batch = torch.as_tensor(np.asarray(obs, dtype=np.float32)).reshape(1, -1)
        with torch.no_grad():
            values = torch.cat(critic(batch.expand(len(LEVELS), -1), actions), dim=1)
        # Ties (an untrained critic) go to the first maximum: deterministic.
        return candidates[int(values.mean(dim=1).argmax())]

    return act


class GreedyLevelsTarget(torch.nn.Module):
    """Stands in for TD3's target actor in the critics' backup when the policy acts greedily:
    the next decision's action is the level the target critics value most from the next
    position, not the actor's. Without it the critics value the churning actor's
    continuation (the position held now is worth one holding period, then the actor moves
    it again), and a greedy choice over them is myopic and sticky: measured, position/signal
    correlation 0.08 although the critics' value gap between +1 and -1 correlated 0.90
    with the edge's signal. The target actor's own parameters are what `parameters`
    gives, so TD3's Polyak update of its target actor still applies."""

    def __init__(self, actor_target: torch.nn.Module, critic_target: torch.nn.Module) -> None:
        super().__init__()
        # Plain attributes, not submodules: parameters() must be the target actor's alone.
        self.__dict__["_nets"] = (actor_target, critic_target)
        self.register_buffer("levels", torch.tensor(LEVELS, dtype=torch.float32))

    def parameters(self, recurse: bool = True):  # noqa: ANN201 (torch's own signature)
        return self._nets[0].parameters(recurse)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        critic = self._nets[1]
        n, k = len(obs), len(LEVELS)
        actions = torch.stack([self.levels, torch.ones(k)], dim=1)  # (k, 2): level, trade
        batch = obs.repeat_interleave(k, dim=0)
        values = torch.cat(critic(batch, actions.repeat(n, 1)), dim=1).mean(dim=1)
        best = values.reshape(n, k).argmax(dim=1)
        return actions[best]


class GreedyTD3(TD3):
    """TD3 whose critics back up the greedy level's value (`GreedyLevelsTarget`); the actor
    trains as TD3's does. Saved and loaded as a plain TD3 (the target actor is not saved)."""

    def _setup_model(self) -> None:
        super()._setup_model()
        self.actor_target = GreedyLevelsTarget(self.policy.actor_target,
                                               self.policy.critic_target)

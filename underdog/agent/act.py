"""Inference: a stored policy's action on the latest online state vector.

The state comes from Redis (one round trip, database fallback), is scaled with the policy's
training statistics, the policy acts as it did in training and evaluation (`acting.policy_of`:
its actor or the greedy choice over its critic), and the action is read as the environment
reads it (`env.position_after`: the action mapping and deadband; a policy with
`decision_bars` > 1 is asked every that many bars, which the caller keeps to).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from underdog.agent.acting import policy_of
from underdog.agent.env import observation, position_after, scaled_features
from underdog.agent.policies import load_policy
from underdog.features.online import latest_state
from underdog.features.registry import FEATURE_NAMES, FEATURE_VERSION
from underdog.store.db import Database
from underdog.store.online.cache import LatestCache


@dataclass(frozen=True)
class Decision:
    symbol: str
    version: str
    state_time: datetime
    position: float  # the position the decision starts from
    target: float  # the policy's target position, fraction of the maximum exposure
    signal: float  # "gated" mapping: > 0 trade to the target, else hold
    new_position: float  # as the environment reads the action (mapping, deadband)

    @property
    def trade(self) -> bool:
        return self.new_position != self.position


def act(db: Database, cache: LatestCache, symbol: str, *, position: float = 0.0,
        version: str | None = None) -> Decision:
    if not -1.0 <= position <= 1.0:
        raise ValueError(f"position must be in [-1, 1] (a fraction of the maximum exposure), "
                         f"got {position}")
    policy = load_policy(db, symbol, version)
    state = latest_state(cache, symbol)
    if state is None:
        raise LookupError(f"no online state vector for {symbol}: run `underdog features "
                          "latest` or the streamer first")
    if state.get("feature_version", FEATURE_VERSION) != policy.params["feature_version"]:
        raise ValueError(f"the state is feature_version {state.get('feature_version')}, the "
                         f"policy was trained on {policy.params['feature_version']}")
    features = np.array([[float(state[name]) for name in FEATURE_NAMES]])
    obs = observation(scaled_features(policy.scaler, features, policy.config.env)[0], position)
    action = policy_of(policy.model, policy.config)(obs)
    target, signal = (float(v) for v in action)
    return Decision(symbol, policy.version, state["time"], position, target, signal,
                    position_after(policy.config.env, position, action))

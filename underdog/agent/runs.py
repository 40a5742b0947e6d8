"""Train-and-store for one symbol: what the CLI and the td3_policy asset both run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from underdog.agent.config import AgentConfig
from underdog.agent.data import load_market, walk_forward_folds
from underdog.agent.policies import save_policy
from underdog.agent.train import Trained, train
from underdog.store.db import Database


@dataclass
class TrainRun:
    version: str
    trained: Trained

    def summary(self) -> dict:
        """The figures a person reads: windows, validation metrics, deployability, speed."""
        t = self.trained
        return {"version": self.version, "bars": len(t.data),
                "windows": t.split.as_dict(t.data), "validation": t.validation,
                "deployable": t.deployable, "train_steps_per_s": round(t.steps_per_s, 1)}


def train_symbol(db: Database, symbol: str, config: AgentConfig, *,
                 start: datetime | None = None, end: datetime | None = None) -> TrainRun:
    """Train on the state vectors of `symbol` in [start, end) (default: all) and store it."""
    trained = train(load_market(db, symbol, start, end), config)
    return TrainRun(save_policy(db, trained), trained)


def train_folds(db: Database, symbol: str, config: AgentConfig, *,
                start: datetime | None = None, end: datetime | None = None) -> list[TrainRun]:
    """One policy per walk-forward fold (config.split.folds), each trained on its own past
    and stored with its windows; the last is trained on the most data (the one to deploy)."""
    data = load_market(db, symbol, start, end)
    s = config.split
    splits = walk_forward_folds(len(data), s.folds, s.train, s.validation, s.purge_bars,
                                s.embargo_bars)
    runs = []
    for split in splits:
        trained = train(data, config, split)
        runs.append(TrainRun(save_policy(db, trained), trained))
    return runs

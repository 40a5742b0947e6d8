"""Policies in the model registry: the weights with everything needed to trust and reuse them.

A version is a hash of what determines the weights (symbol, data window, feature_version,
config with its seed): retraining the same thing replaces the same row. Its params record
the windows, the scaler's statistics, the hyperparameters, the library versions and the code
revision; its artifact is stable-baselines3's zip.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version as package_version
from pathlib import Path

from stable_baselines3 import TD3

from underdog.agent.config import AgentConfig
from underdog.agent.scaler import Scaler
from underdog.agent.train import Trained
from underdog.features.registry import FEATURE_VERSION
from underdog.store.db import Database
from underdog.store.models import find_model, save_model

MODEL_NAME = "td3_policy"
LIBRARIES = ("stable-baselines3", "torch", "gymnasium", "numpy", "underdog")


@dataclass
class StoredPolicy:
    version: str
    symbol: str
    model: TD3
    scaler: Scaler
    config: AgentConfig
    params: dict

    def window(self, name: str) -> tuple[datetime, datetime]:
        first, end = self.params["windows"][name]
        return datetime.fromisoformat(first), datetime.fromisoformat(end)


def code_revision() -> str:
    """The git commit of this checkout (with +dirty when it has changes), else 'unknown'."""
    git = shutil.which("git")
    if git is None:
        return "unknown"
    root = str(Path(__file__).resolve().parents[2])

    def run(*args: str) -> str:  # fixed arguments only: nothing from the outside
        return subprocess.run([git, "-C", root, *args], capture_output=True, text=True,  # noqa: S603
                              timeout=5, check=True).stdout.strip()

    try:
        rev = run("rev-parse", "--short=12", "HEAD")
        dirty = run("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


def policy_params(trained: Trained) -> dict:
    windows = trained.split.as_dict(trained.data)
    return {
        "symbol": trained.data.symbol, "feature_version": FEATURE_VERSION,
        "windows": windows, "config": trained.config.to_dict(),
        "seed": trained.config.train.seed, "scaler": trained.scaler.to_dict(),
        "libraries": {name: package_version(name) for name in LIBRARIES},
        "code_revision": code_revision(),
    }


def version_of(params: dict) -> str:
    identity = {k: params[k] for k in ("symbol", "feature_version", "windows", "config")}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return f"{params['symbol']}-{digest[:10]}"


def save_policy(db: Database, trained: Trained) -> str:
    params = policy_params(trained)
    version = version_of(params)
    buffer = io.BytesIO()
    trained.model.save(buffer)
    first, _ = trained.data.span()
    _, end = trained.data.window(trained.split.train).span()
    metrics = {"validation": trained.validation, "deployable": trained.deployable,
               "train_steps_per_s": trained.steps_per_s}
    save_model(db, MODEL_NAME, version, params, train_start=first, train_end=end,
               metrics=metrics, artifact=buffer.getvalue())
    return version


def load_policy(db: Database, symbol: str, version: str | None = None) -> StoredPolicy:
    """A stored policy of `symbol`: `version`, or the newest one."""
    row = find_model(db, MODEL_NAME, symbol=symbol, version=version)
    if row is None:
        wanted = f"version {version}" if version else "any version"
        raise LookupError(f"no TD3 policy for {symbol} ({wanted}): train one first "
                          "(`underdog agent train` or the td3_policy asset)")
    found, params, artifact = row
    model = TD3.load(io.BytesIO(artifact), device="cpu")
    return StoredPolicy(found, symbol, model, Scaler.from_dict(params["scaler"]),
                        AgentConfig.from_dict(params["config"]), params)

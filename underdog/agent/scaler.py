"""Z-score scaling of the state vector, fitted on the training window only.

The statistics travel with the policy (model registry), so validation, test and live
inference scale with what training saw, never with statistics of data it had not seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from underdog.features.registry import FEATURE_NAMES


@dataclass(frozen=True)
class Scaler:
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, train_features: np.ndarray) -> Scaler:
        if len(train_features) < 2:
            raise ValueError("the scaler needs at least two training rows")
        mean = train_features.mean(axis=0)
        std = train_features.std(axis=0)
        # A constant feature (a regime never seen, a macro series without data) scales by 1.
        return cls(mean, np.where(std > 1e-12, std, 1.0))

    def transform(self, features: np.ndarray, clip: float) -> np.ndarray:
        return np.clip((features - self.mean) / self.std, -clip, clip).astype("float32")

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {"mean": dict(zip(FEATURE_NAMES, map(float, self.mean), strict=True)),
                "std": dict(zip(FEATURE_NAMES, map(float, self.std), strict=True))}

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, float]]) -> Scaler:
        return cls(np.array([data["mean"][n] for n in FEATURE_NAMES]),
                   np.array([data["std"][n] for n in FEATURE_NAMES]))

"""From class probabilities to a score: the one rule every scorer follows.

score = p(positive) - p(negative), in [-1, 1]; confidence = the largest probability; label =
the most probable class (a tie between the top classes is "neutral"). Class names come from
the model's own config (`id2label`), never from an assumed index order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

LABELS = ("positive", "negative", "neutral")


@dataclass(frozen=True)
class Score:
    sentiment: float  # p(positive) - p(negative), in [-1, 1]
    confidence: float  # the largest class probability, in [0, 1]
    label: str  # positive | negative | neutral
    model: str  # the model that made it: "<id>@<revision>[+int8]" or "lexicon-lm-v1"


class Scorer(Protocol):
    """Anything that turns texts into scores, one per text, in order."""

    model_id: str

    def score(self, texts: Sequence[str]) -> list[Score]: ...


def label_index(id2label: Mapping[int, str]) -> dict[str, int]:
    """{"positive": i, "negative": j, "neutral": k} from a model config's id2label."""
    index = {str(name).strip().lower(): int(i) for i, name in id2label.items()}
    missing = [name for name in LABELS if name not in index]
    if missing:
        raise ValueError(f"the model's id2label {dict(id2label)} lacks {missing}: "
                         "a sentiment model needs positive, negative and neutral classes")
    return {name: index[name] for name in LABELS}


def from_probabilities(probabilities: np.ndarray, index: Mapping[str, int],
                       model: str) -> list[Score]:
    """One Score per row of an (n, classes) probability matrix."""
    p = np.asarray(probabilities, dtype="float64")
    pos, neg, neu = (p[:, index[name]] for name in LABELS)
    sentiment = np.clip(pos - neg, -1.0, 1.0)
    polar = np.stack([pos, neg, neu], axis=1)
    top = polar.max(axis=1)
    tied = np.isclose(polar, top[:, None], rtol=0, atol=1e-9).sum(axis=1) > 1
    labels = np.where(tied, "neutral", np.asarray(LABELS)[polar.argmax(axis=1)])
    confidence = np.clip(top, 0.0, 1.0)
    return [Score(float(s), float(c), str(label), model)
            for s, c, label in zip(sentiment, confidence, labels, strict=True)]

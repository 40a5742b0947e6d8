"""The score rule: p(positive) - p(negative), the top probability, labels by name."""

from __future__ import annotations

import numpy as np
import pytest

from underdog.sentiment.scoring.rules import from_probabilities, label_index


def test_score_confidence_and_label_follow_the_class_names_not_their_order() -> None:
    index = label_index({0: "Neutral", 1: "NEGATIVE", 2: "positive"})
    assert index == {"positive": 2, "negative": 1, "neutral": 0}
    [a, b] = from_probabilities(np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]]), index, "m@1")
    assert (a.sentiment, a.confidence, a.label, a.model) == (pytest.approx(0.5), 0.7,
                                                             "positive", "m@1")
    assert (b.sentiment, b.confidence, b.label) == (pytest.approx(-0.2), 0.6, "neutral")


def test_a_tie_at_the_top_is_neutral() -> None:
    index = {"positive": 0, "negative": 1, "neutral": 2}
    [tie, uniform] = from_probabilities(np.array([[0.4, 0.4, 0.2], [1 / 3, 1 / 3, 1 / 3]]),
                                        index, "m")
    assert (tie.label, tie.sentiment) == ("neutral", 0.0)
    assert (uniform.label, uniform.confidence) == ("neutral", pytest.approx(1 / 3))


def test_a_model_without_the_three_classes_is_refused() -> None:
    with pytest.raises(ValueError, match="lacks \\['neutral'\\]"):
        label_index({0: "positive", 1: "negative"})
    with pytest.raises(ValueError, match="LABEL_0"):
        label_index({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})

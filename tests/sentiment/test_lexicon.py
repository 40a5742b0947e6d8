"""The lexicon fallback: finance polarity, negation, 'no idea' for texts without a term."""

from __future__ import annotations

import pytest

from underdog.sentiment.scoring.lexicon import MODEL_ID, LexiconScorer, counts


def test_finance_terms_and_negation() -> None:
    assert counts("Sterling rallies to a seven-month high as wages beat forecasts") == (3, 0)
    assert counts("Euro slumps as German output declines") == (0, 2)
    assert counts("The recovery is not strong") == (1, 1)  # 'not strong' counts against
    assert counts("Europe and euros") == (0, 0)


def test_scores_follow_the_smoothed_counts() -> None:
    up, down, blank = LexiconScorer().score([
        "EUR/USD rallies as the dollar weakens",  # rallies +, weakens -
        "Pound plunges, gilts tumble amid recession fears",
        "ECB meeting on Thursday",
    ])
    assert (up.sentiment, up.label) == (0.0, "neutral")
    assert down.label == "negative" and down.sentiment == pytest.approx(-4 / 7)
    assert down.confidence == pytest.approx(5 / 7)
    assert (blank.sentiment, blank.label, blank.confidence) == (0.0, "neutral",
                                                                pytest.approx(1 / 3))
    assert {s.model for s in (up, down, blank)} == {MODEL_ID} == {"lexicon-lm-v1"}

"""The fallback scorer: finance word lists, when the FinBERT model cannot be loaded.

Lists in the spirit of Loughran-McDonald (finance-specific polarity: "liability" is not
negative, "decline" is), written for this project and extended with market-move words a
headline uses ("rally", "slump", "hawkish"). A negator ("not", "no", "never", ...) up to
three words before a term flips it.

Probabilities are add-one smoothed counts: p(positive) = (hits+ + 1) / (hits + 3),
p(negative) = (hits- + 1) / (hits + 3), p(neutral) = 1 / (hits + 3). A text with no term is
(1/3, 1/3, 1/3): neutral at confidence 1/3, i.e. "no idea", which weighs little downstream.
It is a rough instrument: every score it makes is named MODEL_ID.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from underdog.sentiment.scoring.rules import Score, from_probabilities

MODEL_ID = "lexicon-lm-v1"
NEGATION_WINDOW = 3

POSITIVE = frozenset("""
    gain gains gained gaining rise rises rising rose rally rallies rallied rallying surge
    surges surged climb climbs climbed jump jumps jumped soar soars soared advance advances
    advanced rebound rebounds rebounded recover recovers recovered recovery strong stronger
    strongest strength strengthen strengthens strengthened firm firmer firms firmed robust
    resilient resilience improve improves improved improvement improving upbeat optimism
    optimistic confident confidence boost boosts boosted beat beats exceed exceeds exceeded
    outperform outperforms outperformed upgrade upgraded upgrades bullish positive favorable
    favourable expand expands expanded expansion growth success successful profit profitable
    record breakout high highs hawkish support supports supported supportive steady stable
    stabilised stabilized lifts lifted lifting
""".split())

NEGATIVE = frozenset("""
    loss losses lose loses losing lost fall falls falling fell drop drops dropped dropping
    decline declines declined declining slump slumps slumped plunge plunges plunged tumble
    tumbles tumbled slide slides slid slip slips slipped sink sinks sank retreat retreats
    retreated weak weaker weakest weakness weaken weakens weakened worse worsen worsens
    worsened worst recession downturn contraction contract contracts contracted stagnate
    stagnates stagnated stagnation crisis fear fears concern concerns worry worries worried
    uncertainty uncertain volatile turmoil miss misses missed disappoint disappoints
    disappointed disappointing downgrade downgraded downgrades bearish negative adverse
    selloff sell-off slowdown slow slows slowed default defaults deficit risk risks pressure
    pressured dump dumped crash crashed stopped lows low dovish squeeze squeezed heavy
""".split())

NEGATORS = frozenset("not no never neither nor without hardly barely isn't wasn't aren't "
                     "don't doesn't didn't won't cannot can't".split())

_WORDS = re.compile(r"[a-z]+(?:['-][a-z]+)?")
# Class order here puts neutral last; `from_probabilities` resolves ties to neutral anyway.
_INDEX = {"positive": 0, "negative": 1, "neutral": 2}


def counts(text: str) -> tuple[int, int]:
    """(positive, negative) term counts, negated terms flipped."""
    words = _WORDS.findall(text.lower())
    pos = neg = 0
    for i, word in enumerate(words):
        polarity = (word in POSITIVE) - (word in NEGATIVE)
        if not polarity:
            continue
        if NEGATORS.intersection(words[max(0, i - NEGATION_WINDOW):i]):
            polarity = -polarity
        pos, neg = pos + (polarity > 0), neg + (polarity < 0)
    return pos, neg


def probabilities(text: str) -> tuple[float, float, float]:
    pos, neg = counts(text)
    total = pos + neg + 3
    return (pos + 1) / total, (neg + 1) / total, 1 / total


class LexiconScorer:
    """Scores texts with the word lists; fast, dependency-free, rough."""

    model_id = MODEL_ID

    def score(self, texts: Sequence[str]) -> list[Score]:
        if not texts:
            return []
        return from_probabilities(np.array([probabilities(t) for t in texts]), _INDEX,
                                  self.model_id)

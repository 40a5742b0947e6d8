"""Which scorer a process uses: FinBERT when its model loads, else the lexicon, loudly."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

from underdog.sentiment.scoring.lexicon import LexiconScorer
from underdog.sentiment.scoring.rules import Scorer

log = logging.getLogger(__name__)

BANNER = "!" * 78


@dataclass(frozen=True)
class LoadedScorer:
    scorer: Scorer
    fallback_reason: str | None = None  # why the lexicon stands in for the model

    @property
    def is_fallback(self) -> bool:
        return self.fallback_reason is not None


@lru_cache(maxsize=4)
def load_scorer(model: str, *, quantize: bool = False) -> LoadedScorer:
    """FinBERT from `model` (hub id or folder), or the lexicon with a loud warning."""
    from underdog.sentiment.scoring.finbert import ModelUnavailable, load_finbert

    try:
        return LoadedScorer(load_finbert(model, quantize=quantize))
    except ModelUnavailable as exc:
        reason = str(exc).splitlines()[0]
    lexicon = LexiconScorer()
    log.warning("\n%s\nSENTIMENT MODEL UNAVAILABLE: %s\nScoring with the finance LEXICON "
                "fallback (%s) instead: rougher scores, each row says model=%s.\nSet "
                "UNDERDOG_FINBERT_MODEL to a folder holding the model, or give this process "
                "access to the hub.\n%s", BANNER, reason, lexicon.model_id, lexicon.model_id,
                BANNER)
    return LoadedScorer(lexicon, reason)

"""The content-hash cache: a text is scored once per model, whatever its id or source."""

from __future__ import annotations

from collections.abc import Sequence

from underdog.sentiment.scoring.cache import CachedScorer
from underdog.sentiment.scoring.rules import Score


class Counting:
    model_id = "counting@1"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def score(self, texts: Sequence[str]) -> list[Score]:
        self.seen += texts
        return [Score(len(t) / 100, 0.9, "positive", self.model_id) for t in texts]


def test_equal_hashes_are_scored_once_and_remembered() -> None:
    inner = Counting()
    cached = CachedScorer(inner)
    first = cached.score(["h1", "h2", "h1"], ["aa", "bbbb", "aa"])
    assert inner.seen == ["aa", "bbbb"] and first[0] == first[2]
    again = cached.score(["h2", "h3"], ["bbbb", "c"])
    assert inner.seen == ["aa", "bbbb", "c"] and again[0] == first[1]
    assert (cached.stats.scored, cached.stats.memory_hits) == (3, 1)


def test_stored_scores_are_used_before_the_model() -> None:
    inner = Counting()
    stored = {"h9": Score(-0.5, 0.8, "negative", "counting@1")}
    calls: list[tuple[list[str], str]] = []

    def lookup(hashes: Sequence[str], model: str) -> dict[str, Score]:
        calls.append((list(hashes), model))
        return {h: s for h, s in stored.items() if h in hashes}

    cached = CachedScorer(inner, lookup=lookup)
    scores = cached.score(["h9", "h1"], ["old text", "new"])
    assert scores[0] == stored["h9"] and inner.seen == ["new"]
    assert calls == [(["h9", "h1"], "counting@1")] and cached.stats.stored_hits == 1


def test_the_memory_is_bounded() -> None:
    cached = CachedScorer(Counting(), max_entries=2)
    cached.score(["a", "b", "c"], ["1", "2", "3"])
    assert len(cached._memory) == 2

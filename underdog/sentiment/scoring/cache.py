"""The content-hash cache: no text is scored twice by the same model.

Two levels: this process's memory, then the scores already stored, looked up by the
documents' content hash and the model id through the `lookup` the caller passes in
(`underdog.sentiment.pipeline.stored_scores` reads them from the store; scoring never imports
it). A repost, a syndicated story, or a rerun finds its score there; only texts new to this
model go to it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from underdog.sentiment.scoring.rules import Score, Scorer

# content hashes -> their stored scores by this model (hashes without one are left out)
Lookup = Callable[[Sequence[str], str], Mapping[str, Score]]


@dataclass
class CacheStats:
    memory_hits: int = 0
    stored_hits: int = 0
    scored: int = 0


@dataclass
class CachedScorer:
    """`score(hashes, texts)` with a bounded in-memory LRU and an optional stored lookup."""

    scorer: Scorer
    lookup: Lookup | None = None
    max_entries: int = 200_000
    stats: CacheStats = field(default_factory=CacheStats)
    _memory: OrderedDict[tuple[str, str], Score] = field(default_factory=OrderedDict)

    @property
    def model_id(self) -> str:
        return self.scorer.model_id

    def score(self, hashes: Sequence[str], texts: Sequence[str]) -> list[Score]:
        """One Score per (hash, text); equal hashes are scored once."""
        found = {h: s for h in set(hashes) if (s := self._recall(h)) is not None}
        self.stats.memory_hits += sum(h in found for h in hashes)
        missing = [h for h in dict.fromkeys(hashes) if h not in found]
        if missing and self.lookup is not None:
            stored = self.lookup(missing, self.model_id)
            self.stats.stored_hits += sum(h in stored for h in hashes)
            found.update(stored)
        text_of = dict(zip(hashes, texts, strict=True))
        new = [h for h in missing if h not in found]
        if new:
            found.update(zip(new, self.scorer.score([text_of[h] for h in new]), strict=True))
            self.stats.scored += len(new)
        for h in missing:
            self._remember(h, found[h])
        return [found[h] for h in hashes]

    def _recall(self, content_hash: str) -> Score | None:
        key = (content_hash, self.model_id)
        score = self._memory.get(key)
        if score is not None:
            self._memory.move_to_end(key)
        return score

    def _remember(self, content_hash: str, score: Score) -> None:
        self._memory[(content_hash, self.model_id)] = score
        if len(self._memory) > self.max_entries:
            self._memory.popitem(last=False)

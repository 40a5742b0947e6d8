"""What the sentiment checks look at, per window: score ranges, documents left unscored,
and how recent the newest score is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from underdog.store.db import Database
from underdog.store.offline.sentiment import audit_counts


@dataclass(frozen=True)
class SentimentAudit:
    rows: int
    out_of_range: int  # sentiment outside [-1, 1] or confidence outside [0, 1]
    documents: int  # documents tagged with a configured symbol
    unscored: int  # of those, without any score row
    newest: datetime | None  # the latest available_at of the window's scores

    @property
    def unscored_share(self) -> float:
        return self.unscored / self.documents if self.documents else 0.0


def audit(db: Database, start: datetime, end: datetime,
          symbols: Sequence[str]) -> SentimentAudit:
    return SentimentAudit(*audit_counts(db, start, end, symbols))

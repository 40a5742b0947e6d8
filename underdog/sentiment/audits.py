"""What the sentiment checks look at, per window: score ranges, documents left unscored,
and how recent the newest score is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from underdog.store.db import Database

AUDIT = """
SELECT
  (SELECT count(*) FROM underdog.sentiment_scores
    WHERE time >= %(start)s AND time < %(end)s AND symbol = ANY(%(symbols)s)),
  (SELECT count(*) FROM underdog.sentiment_scores
    WHERE time >= %(start)s AND time < %(end)s AND symbol = ANY(%(symbols)s)
      AND NOT (sentiment BETWEEN -1 AND 1 AND confidence BETWEEN 0 AND 1)),
  (SELECT count(*) FROM underdog.raw_documents
    WHERE published_at >= %(start)s AND published_at < %(end)s
      AND symbols && %(symbols)s::text[]),
  (SELECT count(*) FROM underdog.raw_documents d
    WHERE published_at >= %(start)s AND published_at < %(end)s
      AND symbols && %(symbols)s::text[]
      AND NOT EXISTS (SELECT 1 FROM underdog.sentiment_scores s
                      WHERE s.symbol = ANY(d.symbols) AND s.source = d.source
                        AND s.item_id = d.item_id AND s.time = d.published_at)),
  (SELECT max(available_at) FROM underdog.sentiment_scores
    WHERE time >= %(start)s AND time < %(end)s AND symbol = ANY(%(symbols)s))
"""


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
    with db.connection() as conn:
        row = conn.execute(AUDIT, {"start": start, "end": end, "symbols": list(symbols)}
                           ).fetchone()
    return SentimentAudit(*row)

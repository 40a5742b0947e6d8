"""SQL on `raw_documents`, `sentiment_scores` and `hourly_sentiment_summary`.

`underdog.sentiment.pipeline` and `underdog.sentiment.audits` call these with plain values;
nothing here knows a scorer or a source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import pandas as pd

from underdog.store.db import Database

NEWEST_PUBLISHED = """
SELECT max(published_at) FROM underdog.raw_documents
WHERE source = %s AND published_at >= %s AND published_at < %s
"""


def newest_published(db: Database, source: str, start: datetime,
                     end: datetime) -> datetime | None:
    """The newest `published_at` of `source`'s documents in [start, end), or None."""
    with db.connection() as conn:
        return conn.execute(NEWEST_PUBLISHED, (source, start, end)).fetchone()[0]


INSERT_DOCUMENT = """
INSERT INTO underdog.raw_documents
    (source, item_id, url, title, body, published_at, fetched_at, content_hash, symbols)
SELECT %(source)s, %(item_id)s, %(url)s, %(title)s, %(body)s, %(published_at)s,
       %(fetched_at)s, %(content_hash)s, %(symbols)s::text[]
WHERE NOT EXISTS (SELECT 1 FROM underdog.raw_documents
                  WHERE content_hash = %(content_hash)s AND source = %(source)s)
ON CONFLICT (source, item_id) DO NOTHING
RETURNING item_id
"""


def insert_documents(db: Database, rows: Sequence[Mapping[str, object]]) -> set[tuple[str, str]]:
    """Insert the rows (the columns of INSERT_DOCUMENT) whose (source, item_id) and
    (source, content_hash) are both new; return the (source, item_id) inserted."""
    inserted: set[tuple[str, str]] = set()
    with db.connection() as conn, conn.transaction(), conn.cursor() as cur:
        # One writer per source at a time: two runs cannot both insert the same content.
        for source in sorted({str(r["source"]) for r in rows}):
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                        (f"underdog.raw_documents:{source}",))
        cur.executemany(INSERT_DOCUMENT, rows, returning=True)
        for r in rows:
            row = cur.fetchone()
            if row is not None:
                inserted.add((str(r["source"]), row[0]))
            cur.nextset()
    return inserted


PENDING = """
SELECT d.source, d.item_id, d.title, d.body, d.published_at, d.fetched_at, d.content_hash,
       d.symbols, EXISTS (SELECT 1 FROM underdog.sentiment_scores x
                          WHERE x.symbol = ANY(d.symbols) AND x.source = d.source
                            AND x.item_id = d.item_id AND x.time = d.published_at) AS rescore
FROM underdog.raw_documents d
WHERE d.published_at >= %(start)s AND d.published_at < %(end)s
  AND d.symbols && %(symbols)s::text[]
  AND (%(sources)s::text[] IS NULL OR d.source = ANY(%(sources)s))
  AND EXISTS (
    SELECT 1 FROM unnest(d.symbols) AS t(symbol)
    WHERE t.symbol = ANY(%(symbols)s) AND NOT EXISTS (
        SELECT 1 FROM underdog.sentiment_scores s
        WHERE s.symbol = t.symbol AND s.source = d.source AND s.item_id = d.item_id
          AND s.time = d.published_at
          AND (s.model <> %(lexicon)s OR %(model)s = %(lexicon)s)))
ORDER BY d.published_at, d.source, d.item_id
"""


def pending_documents(db: Database, start: datetime, end: datetime, *,
                      symbols: Sequence[str], sources: Sequence[str] | None, model: str,
                      lexicon: str) -> pd.DataFrame:
    """Documents published in [start, end) tagged with one of `symbols` that lack a score
    for one of them, or have only a `lexicon` score while `model` is another; `rescore`
    says whether the document has any score yet."""
    params = {"start": start, "end": end, "symbols": list(symbols),
              "sources": list(sources) if sources else None, "lexicon": lexicon,
              "model": model}
    with db.connection() as conn:
        cur = conn.execute(PENDING, params)
        columns = [c.name for c in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=columns)


STORED_SCORES = """
SELECT DISTINCT ON (d.content_hash) d.content_hash, s.sentiment, s.confidence, s.label
FROM underdog.raw_documents d
JOIN underdog.sentiment_scores s  -- symbol first: the primary key's order
  ON s.symbol = ANY(d.symbols) AND s.source = d.source AND s.item_id = d.item_id
 AND s.time = d.published_at
WHERE d.content_hash = ANY(%s) AND s.model = %s
ORDER BY d.content_hash
"""


def scores_by_content(db: Database, hashes: Sequence[str],
                      model: str) -> dict[str, tuple[float, float, str]]:
    """content hash -> (sentiment, confidence, label) `model` already gave a text with it."""
    with db.connection() as conn:
        rows = conn.execute(STORED_SCORES, (list(hashes), model)).fetchall()
    return {h: (float(s), float(c), label) for h, s, c, label in rows}


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


def audit_counts(db: Database, start: datetime, end: datetime, symbols: Sequence[str]
                 ) -> tuple[int, int, int, int, datetime | None]:
    """For [start, end) and `symbols`: score rows, rows out of range, tagged documents,
    those without any score, and the newest score's available_at."""
    with db.connection() as conn:
        return conn.execute(AUDIT, {"start": start, "end": end, "symbols": list(symbols)}
                            ).fetchone()


def summary_rows(db: Database, start: datetime, end: datetime) -> int:
    """Rows of `hourly_sentiment_summary` in [start, end)."""
    with db.primary_reader() as conn:  # read-back of what the caller just wrote
        return conn.execute("SELECT count(*) FROM underdog.hourly_sentiment_summary"
                            " WHERE time >= %s AND time < %s", (start, end)).fetchone()[0]

"""SQL on `macro_indicators` beyond the writers: as-of reads and the vintage audits.

`underdog.macro.vintages` calls these with plain values. They run on the reader pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from psycopg.rows import dict_row

from underdog.store.db import Database

ASOF_SQL = """
SELECT series_id, time, value, realtime_start, realtime_end, available_at, name, units
FROM (SELECT DISTINCT ON (time) * FROM underdog.macro_indicators
      WHERE series_id = %(series)s AND available_at <= %(at)s
      ORDER BY time DESC, realtime_start DESC) newest
WHERE %(missing)s OR value IS NOT NULL
ORDER BY time DESC LIMIT 1
"""


def vintage_asof(db: Database, series_id: str, at: datetime, *,
                 skip_missing: bool) -> dict | None:
    """The newest observation known at `at`, in its newest vintage known then; with
    `skip_missing` an observation whose vintage is NULL (".") yields the one before it."""
    params = {"series": series_id, "at": at, "missing": not skip_missing}
    with db.reader() as conn, conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(ASOF_SQL, params).fetchone()


OVERLAPS_SQL = """
SELECT series_id, count(*) AS bad FROM (
    SELECT series_id, realtime_start, realtime_end,
           lead(realtime_start) OVER (PARTITION BY series_id, time
                                      ORDER BY realtime_start) AS next_start
    FROM underdog.macro_indicators WHERE series_id = ANY(%(series)s)) v
WHERE (realtime_end IS NOT NULL AND realtime_end < realtime_start)
   OR (next_start IS NOT NULL AND (realtime_end IS NULL OR realtime_end >= next_start))
GROUP BY series_id
"""


def overlapping_vintages(db: Database, series: Sequence[str]) -> dict[str, int]:
    """Per series, vintages that end before they start or reach past the next one's start."""
    with db.reader() as conn:
        rows = conn.execute(OVERLAPS_SQL, {"series": list(series)}).fetchall()
    return {series_id: int(bad) for series_id, bad in rows}


NEWEST_SQL = """
SELECT max(time) FROM underdog.macro_indicators
WHERE series_id = %(series)s AND realtime_start < %(end)s
"""


def newest_observation(db: Database, series_id: str, published_before: date) -> datetime | None:
    """The newest observation time of a vintage published before `published_before`."""
    with db.reader() as conn:
        return conn.execute(NEWEST_SQL, {"series": series_id,
                                         "end": published_before}).fetchone()[0]

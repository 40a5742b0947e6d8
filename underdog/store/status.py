"""What `underdog db status` shows: per table rows, time range, chunks, compression."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import sql

from underdog.store.db import Database
from underdog.store.tables import FACT_TABLES

SUMMARIES = ("ohlcv_1h", "ohlcv_1d", "hourly_sentiment_summary", "daily_trading_summary")


@dataclass
class TableStatus:
    name: str
    rows: int
    first: datetime | None
    last: datetime | None
    size_bytes: int
    chunks: int | None = None  # TimescaleDB only
    compressed_chunks: int | None = None
    compression_ratio: float | None = None


def _timescale_details(db: Database, name: str) -> tuple[int, int, float | None]:
    with db.connection() as conn:
        chunks, compressed = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE is_compressed)"
            " FROM timescaledb_information.chunks"
            " WHERE hypertable_schema = 'underdog' AND hypertable_name = %s", (name,)
        ).fetchone()
        before, after = conn.execute(
            "SELECT sum(before_compression_total_bytes), sum(after_compression_total_bytes)"
            " FROM chunk_columnstore_stats(%s)", (f"underdog.{name}",)
        ).fetchone()
    ratio = float(before) / float(after) if before and after else None
    return chunks, compressed, ratio


def table_status(db: Database) -> list[TableStatus]:
    out = []
    for name in (*FACT_TABLES, *SUMMARIES):
        relation = sql.Identifier("underdog", name)
        with db.connection() as conn:
            rows, first, last = conn.execute(
                sql.SQL("SELECT count(*), min(time), max(time) FROM {}").format(relation)
            ).fetchone()
            size = conn.execute(
                "SELECT coalesce(hypertable_size(%s::regclass), 0)" if db.is_timescale
                and name in FACT_TABLES else "SELECT pg_total_relation_size(%s::regclass)",
                (f"underdog.{name}",),
            ).fetchone()[0]
        status = TableStatus(name, rows, first, last, int(size or 0))
        if db.is_timescale and name in FACT_TABLES:
            status.chunks, status.compressed_chunks, status.compression_ratio = (
                _timescale_details(db, name)
            )
        out.append(status)
    return out

"""Rows for the freshness tests: one fact per key of each table, known at a chosen time."""

from __future__ import annotations

from datetime import datetime, timedelta

from underdog.store.db import Database
from underdog.store.tables import STATE_FEATURES

SYMBOLS = ("EURUSD", "GBPUSD")
SERIES = ("VIXCLS", "DFF")


def _insert(db: Database, sql: str, rows: list[tuple]) -> None:
    with db.connection() as conn, conn.transaction(), conn.cursor() as cur:
        cur.executemany(sql, rows)


def put_ohlcv(db: Database, known: datetime, symbols=SYMBOLS) -> None:
    """A bar known at `known` (it opened a minute before)."""
    t = known - timedelta(minutes=1)
    # Stored form (revision 0012): open 1.1, high 1.2, low 1.0, close 1.1 at scale 1.
    _insert(db, "INSERT INTO underdog.ohlcv VALUES (%s, %s, 1, 11, 12, 10, 11, 10, 0.0001,"
                " 'test')", [(s, t) for s in symbols])


def put_ticks(db: Database, known: datetime, symbols=SYMBOLS) -> None:
    # Stored form (revision 0010): bid 1.1, ask 1.1001 at scale 4, known at its time.
    _insert(db, "INSERT INTO underdog.ticks VALUES (%s, %s, 0, 4, 11000, 11001, 0, NULL, NULL,"
                " 0)", [(s, known) for s in symbols])


def put_quotes(db: Database, known: datetime, symbols=SYMBOLS) -> None:
    _insert(db, "INSERT INTO underdog.quotes VALUES (%s, %s, 1.1, 1.1001, 0.0001, NULL, %s)",
            [(s, known, known) for s in symbols])


def put_scores(db: Database, known: datetime, symbols=SYMBOLS, source: str = "newsapi") -> None:
    _insert(db, "INSERT INTO underdog.sentiment_scores VALUES (%s, %s, %s, %s, %s, 0.5, 0.9,"
                " 'positive', 'test')",
            [(s, source, f"{s}-{known.isoformat()}", known, known) for s in symbols])


def put_macro(db: Database, known: datetime, series=SERIES) -> None:
    _insert(db, "INSERT INTO underdog.macro_indicators VALUES (%s, %s, %s, NULL, 1.0, NULL, NULL,"
                " %s)", [(s, known - timedelta(days=1), known.date(), known) for s in series])


def put_regimes(db: Database, known: datetime, symbols=SYMBOLS) -> None:
    _insert(db, "INSERT INTO underdog.regime_predictions VALUES (%s, %s, 'test', 'trend', 0.9,"
                " 0.9, 0.05, 0.05, NULL, %s)",
            [(s, known - timedelta(minutes=15), known) for s in symbols])


def put_vectors(db: Database, known: datetime, symbols=SYMBOLS) -> None:
    values = ", ".join(["0.5"] * len(STATE_FEATURES))
    _insert(db, f"INSERT INTO underdog.state_vectors VALUES (%s, %s, 1, {values}, %s)",
            [(s, known, known) for s in symbols])


def put_dead_letter(db: Database, source: str, table: str, reason: str = "bad row") -> None:
    _insert(db, "INSERT INTO underdog.dead_letters (source, target_table, reason, payload)"
                " VALUES (%s, %s, %s, '{}')", [(source, table, reason)])


SCHEDULED = {"ticks": put_ticks, "ohlcv": put_ohlcv, "sentiment_scores": put_scores,
             "macro_indicators": put_macro, "regime_predictions": put_regimes,
             "state_vectors": put_vectors}


def all_fresh(db: Database, now: datetime) -> None:
    """Every table with a schedule holds a fact known a minute ago, for every key."""
    for put in SCHEDULED.values():
        put(db, now - timedelta(minutes=1))

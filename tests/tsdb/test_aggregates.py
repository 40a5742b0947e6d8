"""Continuous aggregates on the real TimescaleDB server: real-time past the last refresh, and
after a refresh the same rows as plain PostgreSQL's summary tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from psycopg import sql

from underdog.market.backfill import backfill_bars
from underdog.store.db import Database
from underdog.store.offline.aggregates import BUCKETS, refresh
from underdog.store.offline.readers import bars
from underdog.store.offline.writers import upsert
from underdog.store.tables import SENTIMENT_SCORES, TRADES

MONDAY = datetime(2024, 3, 11, tzinfo=UTC)
TUESDAY = MONDAY + timedelta(days=1)
KEYS = {"ohlcv_1h": "symbol, time", "ohlcv_1d": "symbol, time",
        "hourly_sentiment_summary": "symbol, source, time",
        "daily_trading_summary": "strategy, time"}


def facts(start: datetime, n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """n sentiment scores and n closed trades spread over the day from `start`."""
    rng = np.random.default_rng(seed)
    times = start + pd.to_timedelta(np.sort(rng.integers(0, 86_400, n)), unit="s")
    scores = pd.DataFrame({
        "symbol": rng.choice(["EURUSD", "GBPUSD"], n),
        "source": rng.choice(["newsapi", "reddit"], n),
        "item_id": [f"{seed}-{i}" for i in range(n)], "time": times,
        "available_at": times + pd.Timedelta(minutes=5), "sentiment": rng.uniform(-1, 1, n),
        "confidence": rng.uniform(0.5, 1, n), "label": "neutral", "model": "test"})
    trades = pd.DataFrame({
        "time": times, "trade_id": [f"{seed}-{i}" for i in range(n)],
        "strategy": rng.choice(["td3:a", "buy_and_hold"], n), "symbol": "EURUSD",
        "side": "long", "size": 1.0, "entry_time": times - pd.Timedelta(minutes=3),
        "entry_price": 1.1, "exit_price": rng.uniform(1.09, 1.11, n), "commission": 0.1,
        "pnl": rng.normal(0, 5, n), "available_at": times, "run_id": "r"})
    return scores, trades


def write_day(db: Database, day: datetime, seed: int) -> None:
    backfill_bars(db, ["EURUSD", "GBPUSD"], day, day + timedelta(days=1), seed=seed)
    scores, trades = facts(day, 40, seed)
    upsert(db, SENTIMENT_SCORES, scores, source="test")
    upsert(db, TRADES, trades, source="test")


def refresh_all(db: Database, start: datetime, end: datetime) -> None:
    for name in BUCKETS:
        refresh(db, name, start, end)


def summary(db: Database, name: str) -> list[tuple]:
    with db.connection() as conn:
        return conn.execute(sql.SQL("SELECT * FROM {} ORDER BY {}").format(
            sql.Identifier("underdog", name), sql.SQL(KEYS[name]))).fetchall()


def assert_same_rows(timescale: list[tuple], plain: list[tuple]) -> None:
    assert timescale and len(timescale) == len(plain)
    for a, b in zip(timescale, plain, strict=True):
        for x, y in zip(a, b, strict=True):
            if isinstance(y, float):  # sums in another order differ in the last bits only
                assert x == pytest.approx(y, rel=1e-12, abs=1e-15, nan_ok=True), (a, b)
            else:
                assert x == y, (a, b)


def test_real_time_summaries_include_rows_newer_than_the_last_refresh(
        timescale: Database, plain: Database) -> None:
    for db in (timescale, plain):
        write_day(db, MONDAY, seed=1)
        refresh_all(db, MONDAY, TUESDAY)  # the watermark: Tuesday 00:00
        write_day(db, TUESDAY, seed=2)
    window = (MONDAY, TUESDAY + timedelta(days=1))
    # Plain PostgreSQL's tables end at the refresh; TimescaleDB adds Tuesday at query time.
    assert bars(plain, "EURUSD", *window, "1h").index.max() < TUESDAY
    live = {frame: bars(timescale, "EURUSD", *window, frame) for frame in ("1h", "1d")}
    assert live["1h"].index.max() == TUESDAY + timedelta(hours=23)
    assert live["1d"].index.max() == TUESDAY
    realtime = {name: summary(timescale, name) for name in KEYS}
    refresh_all(plain, *window)
    for frame, frame_live in live.items():
        pd.testing.assert_frame_equal(frame_live, bars(plain, "EURUSD", *window, frame),
                                      rtol=1e-12)
    for name in KEYS:
        assert_same_rows(realtime[name], summary(plain, name))


def test_refreshed_summaries_equal_plain_postgres_row_for_row(
        timescale: Database, plain: Database) -> None:
    for db in (timescale, plain):
        write_day(db, MONDAY, seed=3)
        write_day(db, TUESDAY, seed=4)
        refresh_all(db, MONDAY, TUESDAY + timedelta(days=1))
        # A late correction after the refresh, then the refresh the asset runs for it.
        write_day(db, MONDAY, seed=5)
        refresh_all(db, MONDAY, TUESDAY)
    with timescale.connection() as conn:
        watermarks = conn.execute(
            "SELECT count(*) FROM timescaledb_information.continuous_aggregates"
            " WHERE view_schema = 'underdog' AND NOT materialized_only").fetchone()[0]
    assert watermarks == len(KEYS)  # real-time aggregates (revision 0011)
    for name in KEYS:
        assert_same_rows(summary(timescale, name), summary(plain, name))

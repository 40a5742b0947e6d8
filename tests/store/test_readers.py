"""Readers: exact windows, available_at, summaries equal to pandas, the read-only role."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg
import pytest

from tests.helpers import DAY
from underdog.market.backfill import backfill_bars
from underdog.store.db import Database
from underdog.store.offline import aggregates
from underdog.store.offline.readers import bars, latest

FRIDAY = datetime(2024, 3, 8, tzinfo=UTC)
TUESDAY = datetime(2024, 3, 12, tzinfo=UTC)


@pytest.fixture
def week(db: Database) -> Database:
    backfill_bars(db, ["EURUSD", "GBPUSD"], FRIDAY, TUESDAY, seed=11)
    return db


def test_bars_are_the_half_open_window_with_available_at(week: Database) -> None:
    start, end = FRIDAY + timedelta(hours=21, minutes=30), FRIDAY + timedelta(days=3)
    frame = bars(week, "EURUSD", start, end)
    # Friday 21:30-22:00, then the weekend, then Sunday 22:00-24:00.
    assert len(frame) == 30 + 120
    assert frame.index[0] == start and frame.index[-1] == end - timedelta(minutes=1)
    assert str(frame.index.tz) == "UTC" and frame.index.is_monotonic_increasing
    assert (frame["available_at"] == frame.index + timedelta(minutes=1)).all()
    assert frame["volume"].dtype == "int64" and (frame["volume"] > 0).all()


def test_bars_equal_what_the_table_holds(week: Database) -> None:
    frame = bars(week, "GBPUSD", TUESDAY - timedelta(days=1), TUESDAY)
    with week.connection() as conn:
        rows = conn.execute(
            "SELECT time, open, high, low, close, volume, spread FROM underdog.ohlcv_values"
            " WHERE symbol = 'GBPUSD' AND time >= %s ORDER BY time",
            (TUESDAY - timedelta(days=1),),
        ).fetchall()
    expected = pd.DataFrame(rows, columns=["time", "open", "high", "low", "close", "volume",
                                           "spread"]).set_index("time")
    got = frame.drop(columns="available_at")
    assert got.index.equals(pd.DatetimeIndex(expected.index).tz_convert("UTC").as_unit("us"))
    assert got.to_numpy().tolist() == expected.to_numpy().tolist()


def _pandas_rollup(m1: pd.DataFrame, rule: str) -> pd.DataFrame:
    grouped = m1.resample(rule)
    out = pd.DataFrame({
        "open": grouped["open"].first(), "high": grouped["high"].max(),
        "low": grouped["low"].min(), "close": grouped["close"].last(),
        "volume": grouped["volume"].sum(),
    })
    return out[out["volume"] > 0]


@pytest.mark.parametrize(("timeframe", "rule"), [("1h", "1h"), ("1d", "1D")])
def test_summaries_equal_a_pandas_rollup(week: Database, timeframe: str, rule: str) -> None:
    for name in ("ohlcv_1h", "ohlcv_1d"):
        aggregates.refresh(week, name, FRIDAY, TUESDAY)
    m1 = bars(week, "EURUSD", FRIDAY, TUESDAY)
    summary = bars(week, "EURUSD", FRIDAY, TUESDAY, timeframe)
    expected = _pandas_rollup(m1, rule)
    assert summary.index.equals(expected.index)
    pd.testing.assert_frame_equal(summary[expected.columns], expected, check_freq=False,
                                  check_dtype=False)
    weighted = (m1["spread"] * m1["volume"]).resample(rule).sum() / m1["volume"].resample(
        rule).sum()
    assert (summary["spread"] - weighted.loc[summary.index]).abs().max() < 1e-12


def test_refresh_is_idempotent_and_bucket_aligned(week: Database) -> None:
    lo, hi = aggregates.refresh(week, "ohlcv_1h", FRIDAY + timedelta(minutes=7),
                                FRIDAY + timedelta(hours=2, minutes=1))
    assert (lo, hi) == (FRIDAY, FRIDAY + timedelta(hours=3))
    first = bars(week, "EURUSD", FRIDAY, TUESDAY, "1h")
    aggregates.refresh(week, "ohlcv_1h", FRIDAY, FRIDAY + timedelta(hours=3))
    assert bars(week, "EURUSD", FRIDAY, TUESDAY, "1h").equals(first)
    assert len(first[first.index < FRIDAY + timedelta(hours=3)]) == 3
    # Plain PostgreSQL's table holds the refreshed buckets only; TimescaleDB's real-time
    # aggregate adds the buckets after its refresh watermark (revision 0011).
    later = first[first.index >= FRIDAY + timedelta(hours=3)]
    assert later.empty is not week.is_timescale


def test_unknown_timeframe_is_an_error(db: Database) -> None:
    with pytest.raises(ValueError, match="timeframe"):
        bars(db, "EURUSD", DAY, DAY, "5m")


def test_latest_bar(week: Database) -> None:
    row = latest(week, "bar", "EURUSD")
    assert row["time"] == TUESDAY - timedelta(minutes=1)
    assert row["available_at"] == TUESDAY
    assert latest(week, "bar", "USDJPY") is None


def test_the_reader_role_cannot_write(db: Database) -> None:
    with db.reader() as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "underdog_reader"
        assert conn.autocommit  # one statement per read, no BEGIN/ROLLBACK around it
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("DELETE FROM underdog.ohlcv")
        conn.execute("SET default_transaction_read_only = off")  # even then, no grant
        try:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM underdog.ohlcv")
        finally:
            conn.execute("SET default_transaction_read_only = on")


def test_a_reader_connection_the_server_dropped_is_replaced(dsn: str) -> None:
    """The reader pool checks out without a round trip, yet never hands over a dead one."""
    with Database(dsn, max_size=1) as db:
        with db.reader() as conn:
            pid = conn.info.backend_pid
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                                (pid,)).fetchone()[0]:
                time.sleep(0.01)
        with db.reader() as conn:  # the dead one is replaced at checkout, not handed over
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert conn.info.backend_pid != pid

"""Ticks stored as integers and scales (revision 0010): every value reads back bit for bit,
old rows are carried over, values no scale carries are dead letters, and a window written
in parallel per-day streams equals the same window written in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
import pytest
from alembic import command

from tests.conftest import fresh_dsn, pause_timescale_jobs
from tests.helpers import DAY, dead_letters, table_checksum
from underdog.market.backfill import tick_rows
from underdog.sources.simulated import simulate_ticks
from underdog.store import migrate
from underdog.store.admin import drop_database
from underdog.store.db import Database
from underdog.store.offline.decimals import scale_of, smallest_scales
from underdog.store.offline.writers import replace_window, upsert
from underdog.store.tables import OHLCV, TICKS

END = DAY + timedelta(days=1)
VALUES = ["symbol", "time", "seq", "bid", "ask", "bid_volume", "ask_volume", "available_at"]

BEFORE_0010 = "0008"  # the revision 0010 follows: ticks still stored as floats


def awkward_ticks() -> pd.DataFrame:
    """Prices on and off their grid, 3-decimal yen, volumes with 2 to 6 decimals and none,
    several ticks in one millisecond, a receive lag: what the sources write."""
    t = pd.Timestamp(DAY) + pd.to_timedelta([0, 1, 1, 1, 2500, 3_600_000], unit="ms")
    return pd.DataFrame({
        "symbol": ["EURUSD"] * 4 + ["USDJPY", "ZZZUSD"],
        "time": t,
        "seq": [0, 0, 1, 2, 0, 0],
        "bid": [1.08512, 1.08513, 1.085125, 1.1, 150.123, 0.1 + 0.2 - 0.3 + 7.25],
        "ask": [1.08524, 1.08525, 1.08526, 1.1001, 150.135, 7.5],
        "bid_volume": [1.25, 0.1, 3.3e-05, np.nan, 12.0, 0.01],
        "ask_volume": [0.75, 2.5, 1.0, np.nan, 0.01, np.nan],
        "available_at": t + pd.to_timedelta([0, 0, 17, 123_456, 1, 0], unit="us"),
    })


def read_values(db: Database, where: str = "") -> pd.DataFrame:
    with db.connection() as conn:
        rows = conn.execute(f"SELECT {', '.join(VALUES)} FROM underdog.tick_values {where}"
                            " ORDER BY symbol, time, seq").fetchall()
    return pd.DataFrame(rows, columns=VALUES)


def assert_same_values(got: pd.DataFrame, want: pd.DataFrame) -> None:
    want = want.sort_values(["symbol", "time", "seq"]).reset_index(drop=True)
    assert list(got["symbol"]) == list(want["symbol"])
    for column in ("time", "available_at"):
        assert list(pd.DatetimeIndex(got[column]).as_unit("us")) == \
            list(pd.DatetimeIndex(want[column]).as_unit("us"))
    for column in ("bid", "ask", "bid_volume", "ask_volume"):
        a = got[column].to_numpy(dtype="float64", na_value=np.nan)
        b = want[column].to_numpy(dtype="float64")
        assert np.array_equal(np.isnan(a), np.isnan(b)), column
        assert a[~np.isnan(a)].view("int64").tolist() == b[~np.isnan(b)].view("int64").tolist()


def test_smallest_scales_and_scale_of_agree_on_prices_volumes_and_refusals() -> None:
    values = np.array([1.08512, 1.1, 150.123, 3.3e-05, 12.0, 0.1 + 0.2, 1e-20, 2.0**60])
    assert smallest_scales(values).tolist() == [5, 1, 3, 6, 0, -1, -1, -1]
    assert [scale_of(v) for v in values] == [5, 1, 3, 6, 0, None, None, None]
    assert smallest_scales(np.array([1.1, np.nan]), floor=5).tolist() == [5, -1]


def test_the_sql_scale_function_agrees_with_the_writer(db: Database) -> None:
    values = [1.08512, 1.1, 150.123, 3.3e-05, 12.0, 0.1 + 0.2, 7.0000001]
    with db.connection() as conn:
        got = [conn.execute("SELECT underdog.decimal_scale(%s)", (v,)).fetchone()[0]
               for v in values]
    assert got == [scale_of(v) for v in values]


def test_replace_window_reads_back_every_value_bit_for_bit(db: Database) -> None:
    ticks = awkward_ticks()
    result = replace_window(db, TICKS, ticks, source="t", start=DAY, end=END + timedelta(days=1))
    assert (result.written, result.rejected) == (6, 0)
    assert_same_values(read_values(db), ticks)
    with db.connection() as conn:
        scales = conn.execute("SELECT symbol, price_scale, volume_scale FROM underdog.ticks"
                              " ORDER BY symbol, time, seq").fetchall()
    # One scale per symbol and batch: the instrument's digits, more when a price needs it.
    assert scales == [("EURUSD", 6, 6)] * 4 + [("USDJPY", 3, 2), ("ZZZUSD", 2, 2)]


def test_upsert_reads_back_every_value_and_replaces_by_key(db: Database) -> None:
    ticks = awkward_ticks()
    assert upsert(db, TICKS, ticks, source="stream").written == 6
    changed = ticks.copy()
    changed["bid"] = changed["bid"] - 0.0001
    upsert(db, TICKS, changed.iloc[:2], source="stream")
    assert_same_values(read_values(db), pd.concat([changed.iloc[:2], ticks.iloc[2:]]))


def test_a_value_no_scale_carries_is_a_dead_letter_not_a_rounded_row(db: Database) -> None:
    ticks = awkward_ticks()
    ticks.loc[1, "bid"] = 0.1 + 0.2  # 0.30000000000000004: 17 decimals
    ticks.loc[2, "ask_volume"] = 1e-20
    result = replace_window(db, TICKS, ticks, source="t", start=DAY, end=END + timedelta(days=1))
    assert (result.written, result.rejected) == (4, 2)
    assert sorted(r[1] for r in dead_letters(db)) == [
        "a volume has more than 15 decimals", "bid or ask has more than 15 decimals"]
    assert_same_values(read_values(db), ticks.drop(index=[1, 2]))


def test_simulated_days_read_back_exactly(db: Database) -> None:
    frames = {s: simulate_ticks(s, DAY, DAY + timedelta(hours=2), seed=5)
              for s in ("EURUSD", "USDJPY", "XAUUSD")}
    rows = tick_rows(frames)
    assert replace_window(db, TICKS, rows, source="t", start=DAY, end=END).written == len(rows)
    assert_same_values(read_values(db), rows)


def test_parallel_day_streams_write_what_one_transaction_writes(db: Database) -> None:
    start, end = DAY, DAY + timedelta(days=3)
    rows = tick_rows({s: simulate_ticks(s, start, end, seed=2) for s in ("EURUSD", "GBPUSD")})
    one = replace_window(db, TICKS, rows, source="t", start=start, end=end)
    expected = table_checksum(db, "ticks")
    again = replace_window(db, TICKS, rows, source="t", start=start, end=end, streams=3)
    assert (again.written, again.deleted) == (one.written, one.written)
    assert table_checksum(db, "ticks") == expected
    with db.connection() as conn:
        conn.execute("DELETE FROM underdog.ticks")
    replace_window(db, TICKS, rows, source="t", start=start, end=end, streams=2)
    assert table_checksum(db, "ticks") == expected


def test_parallel_streams_cut_windows_that_do_not_start_at_midnight(db: Database) -> None:
    start = DAY + timedelta(hours=20)
    bars = pd.DataFrame({
        "symbol": "EURUSD", "time": pd.date_range(start, periods=3000, freq="min", tz="UTC"),
        "open": 1.1, "high": 1.2, "low": 1.0, "close": 1.1, "volume": 3, "spread": 1e-4,
        "source": "t"})
    end = start + timedelta(minutes=3000)
    replace_window(db, OHLCV, bars.iloc[:10], source="t", start=start - timedelta(days=1),
                   end=start)  # outside the window: untouched
    result = replace_window(db, OHLCV, bars, source="t", start=start, end=end, streams=4)
    assert result.written == 3000
    assert table_checksum(db, "ohlcv")[0] == 3000  # the rows before start were none


# ------------------------------------------------------------------ migration 0010


def _old_ticks() -> list[tuple]:
    # Recent, so no retention job of the server (which may run the moment a migration makes
    # it, before the test can pause it) drops them mid-test on TimescaleDB.
    t = (datetime.now(UTC) - timedelta(days=3)).replace(hour=10, minute=0, second=0,
                                                         microsecond=0)
    ms = timedelta(milliseconds=1)
    return [
        ("EURUSD", t, 0, 1.08512, 1.08524, 1.25, 0.75, t),
        ("EURUSD", t + ms, 0, 1.085125, 1.08526, None, None, t + ms + timedelta(microseconds=9)),
        ("USDJPY", t + 2 * ms, 0, 150.123, 150.135, 3.3e-05, 12.0, t + 2 * ms),
        ("EURUSD", t + timedelta(days=1), 0, 1.09, 1.0901, 0.01, 0.02, t + timedelta(days=1)),
    ]


def test_migration_carries_existing_ticks_over_value_for_value() -> None:
    dsn = fresh_dsn("ticks0010")
    try:
        command.upgrade(migrate._config(dsn), BEFORE_0010)
        pause_timescale_jobs(dsn)  # a compression run would race the test's own
        old = _old_ticks()
        with psycopg.connect(dsn) as conn:
            conn.cursor().executemany(
                "INSERT INTO underdog.ticks VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", old)
            timescale = conn.execute("SELECT count(*) FROM pg_extension"
                                     " WHERE extname = 'timescaledb'").fetchone()[0]
            if timescale:  # one chunk in the columnstore: read through decompression
                conn.execute("SELECT compress_chunk(c) FROM show_chunks('underdog.ticks') c"
                             " LIMIT 1")
        assert migrate.upgrade(dsn) == migrate.head()
        pause_timescale_jobs(dsn)  # 0010 made the ticks policies anew
        with Database(dsn) as db:
            got = read_values(db)
        want = pd.DataFrame(old, columns=VALUES)
        want["time"] = pd.to_datetime(want["time"], utc=True)
        want["available_at"] = pd.to_datetime(want["available_at"], utc=True)
        assert_same_values(got, want.astype({"bid_volume": "float64", "ask_volume": "float64"}))
        if timescale:
            with psycopg.connect(dsn) as conn:
                jobs = {r[0] for r in conn.execute(
                    "SELECT proc_name FROM timescaledb_information.jobs"
                    " WHERE hypertable_schema = 'underdog' AND hypertable_name = 'ticks'")}
                segment = conn.execute(
                    "SELECT segmentby_column_index FROM timescaledb_information"
                    ".compression_settings WHERE hypertable_name = 'ticks'"
                    " AND attname = 'symbol'").fetchone()
                conn.execute("SELECT compress_chunk(c) FROM show_chunks('underdog.ticks') c")
                blooms = conn.execute(
                    "SELECT count(*) FROM _timescaledb_catalog.chunk c"
                    " JOIN _timescaledb_catalog.chunk p ON p.compressed_chunk_id = c.id"
                    " JOIN pg_attribute a ON a.attrelid = format('%I.%I', c.schema_name,"
                    " c.table_name)::regclass WHERE a.attname LIKE '%bloom%'").fetchone()[0]
            assert jobs == {"policy_compression", "policy_retention"}
            assert segment == (1,)
            assert blooms == 0  # no sparse bloom index: a byte a tick, used by no read
            with Database(dsn) as db:  # and from the columnstore (committed), the same values
                assert_same_values(read_values(db), want.astype(
                    {"bid_volume": "float64", "ask_volume": "float64"}))
    finally:
        drop_database(dsn)


def test_migration_refuses_a_tick_it_cannot_carry_exactly() -> None:
    dsn = fresh_dsn("ticks0010bad")
    try:
        command.upgrade(migrate._config(dsn), BEFORE_0010)
        t = datetime(2024, 3, 5, tzinfo=UTC)
        with psycopg.connect(dsn) as conn:
            conn.execute("INSERT INTO underdog.ticks VALUES ('EURUSD', %s, 0, %s, 1.1, NULL,"
                         " NULL, %s)", (t, 0.1 + 0.2, t))
        with pytest.raises(Exception, match="1 ticks have a value with more than 15"):
            migrate.upgrade(dsn)
        assert migrate.current(dsn) == BEFORE_0010  # nothing half-done
    finally:
        drop_database(dsn)

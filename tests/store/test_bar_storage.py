"""Bars stored with integer prices and a scale (revision 0012): old rows are carried over
value for value (and the summaries with them), a price no scale carries stops the
migration, a writer's bar reads back bit for bit through every reader."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
import pytest
from alembic import command

from tests.conftest import fresh_dsn, pause_timescale_jobs
from tests.helpers import DAY, dead_letters
from underdog.store import migrate
from underdog.store.admin import drop_database
from underdog.store.db import Database
from underdog.store.offline import readers
from underdog.store.offline.aggregates import refresh
from underdog.store.offline.feature_inputs import feature_inputs
from underdog.store.offline.writers import upsert
from underdog.store.tables import OHLCV

BEFORE_0012 = "0011"  # bars still stored as floats
VALUES = ["symbol", "time", "open", "high", "low", "close", "volume", "spread", "source"]
SUMMARY = "SELECT * FROM underdog.{} ORDER BY symbol, time"


def _old_bars() -> list[tuple]:
    # Recent, so no retention job of the server drops them mid-test on TimescaleDB; two
    # days, 3-decimal yen, a price off its instrument's grid, spreads that are means.
    t = (datetime.now(UTC) - timedelta(days=3)).replace(hour=10, minute=0, second=0,
                                                         microsecond=0)
    m = timedelta(minutes=1)
    return [
        ("EURUSD", t, 1.08512, 1.08530, 1.08501, 1.08524, 17, 0.00011333333333333333, "a"),
        ("EURUSD", t + m, 1.085245, 1.0853, 1.0852, 1.0853, 3, 1.2e-4, "a"),
        ("EURUSD", t + 61 * m, 1.1, 1.1, 1.1, 1.1, 1, 0.0, "b"),
        ("USDJPY", t + 2 * m, 150.123, 150.2, 150.001, 150.135, 250, 0.0123, "a"),
        ("EURUSD", t + timedelta(days=1), 1.09, 1.0901, 1.0899, 1.09, 5, 1 / 3 * 1e-4, "a"),
    ]


def _values(dsn: str, relation: str = "underdog.ohlcv_values") -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SELECT {', '.join(VALUES)} FROM {relation}"
                            " ORDER BY symbol, time").fetchall()


def _summaries(dsn: str) -> dict[str, list[tuple]]:
    with Database(dsn) as db:
        for name in ("ohlcv_1h", "ohlcv_1d"):
            refresh(db, name, datetime(2000, 1, 3, tzinfo=UTC), datetime.now(UTC))
    with psycopg.connect(dsn) as conn:
        return {name: conn.execute(SUMMARY.format(name)).fetchall()
                for name in ("ohlcv_1h", "ohlcv_1d")}


def test_migration_carries_existing_bars_over_value_for_value() -> None:
    dsn = fresh_dsn("bars0012")
    try:
        command.upgrade(migrate._config(dsn), BEFORE_0012)
        pause_timescale_jobs(dsn)
        old = _old_bars()
        with psycopg.connect(dsn) as conn:
            conn.cursor().executemany(
                f"INSERT INTO underdog.ohlcv ({', '.join(VALUES)}) VALUES"
                " (%s, %s, %s, %s, %s, %s, %s, %s, %s)", old)
            timescale = conn.execute("SELECT count(*) FROM pg_extension"
                                     " WHERE extname = 'timescaledb'").fetchone()[0]
            if timescale:  # one chunk in the columnstore: read through decompression
                conn.execute("SELECT compress_chunk(c) FROM show_chunks('underdog.ohlcv') c"
                             " LIMIT 1")
        before = _summaries(dsn)
        assert _values(dsn, "underdog.ohlcv") == sorted(old)
        assert migrate.upgrade(dsn) == migrate.head()
        pause_timescale_jobs(dsn)  # 0012 made the ohlcv policies anew
        assert _values(dsn) == sorted(old)  # bit for bit: float8 equality, no tolerance
        with psycopg.connect(dsn) as conn:
            scales = conn.execute("SELECT symbol, time::date, array_agg(DISTINCT price_scale)"
                                  " FROM underdog.ohlcv GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
        # per symbol-day the smallest scale for all: 1.085245 needs 6 on its day only
        assert [s[2] for s in scales] == [[6], [4], [3]]
        assert _summaries(dsn) == before  # the rebuilt aggregates: the same rows
        if timescale:
            with psycopg.connect(dsn) as conn:
                chunk = conn.execute(
                    "SELECT extract(epoch FROM time_interval) FROM timescaledb_information"
                    ".dimensions WHERE hypertable_name = 'ohlcv'").fetchone()[0]
                jobs = sorted(r[0] for r in conn.execute(
                    "SELECT proc_name FROM timescaledb_information.jobs"
                    " WHERE hypertable_schema = 'underdog' AND hypertable_name IN"
                    " ('ohlcv', 'ohlcv_1h', 'ohlcv_1d')"))
                conn.execute("SELECT compress_chunk(c) FROM show_chunks('underdog.ohlcv') c")
            assert chunk == 7 * 86400
            assert jobs == ["policy_compression", "policy_refresh_continuous_aggregate",
                            "policy_refresh_continuous_aggregate", "policy_retention"]
            assert _values(dsn) == sorted(old)  # and from the columnstore
            assert _summaries(dsn) == before
    finally:
        drop_database(dsn)


def test_migration_refuses_a_bar_it_cannot_carry_exactly() -> None:
    dsn = fresh_dsn("bars0012bad")
    try:
        command.upgrade(migrate._config(dsn), BEFORE_0012)
        with psycopg.connect(dsn) as conn:
            conn.execute("INSERT INTO underdog.ohlcv VALUES ('EURUSD', %s, 1.1, %s, 1.1, 1.1,"
                         " 1, 0.0001, 'a')", (DAY, 1.1 - 0.001))
        with pytest.raises(Exception, match="1 bars have a price with more than 15"):
            migrate.upgrade(dsn)
        assert migrate.current(dsn) == BEFORE_0012  # nothing half-done
        assert _values(dsn, "underdog.ohlcv")[0][3] == 1.1 - 0.001  # 1.0990000000000002
    finally:
        drop_database(dsn)


def test_every_reader_gives_back_the_bars_written(db: Database) -> None:
    t = pd.date_range(DAY, periods=4, freq="min", tz="UTC")
    written = pd.DataFrame({
        "symbol": "EURUSD", "time": t, "open": [1.08512, 1.0852, 1.085245, 1.1],
        "high": [1.0853, 1.0853, 1.0853, 1.1], "low": [1.085, 1.0851, 1.0852, 1.1],
        "close": [1.0852, 1.08525, 1.0853, 1.1], "volume": [17, 3, 1, 250],
        "spread": [0.00011333333333333333, 1.2e-4, 0.0, 1 / 3 * 1e-4], "source": "t"})
    off_grid = written.iloc[[3]].assign(time=t[0] + timedelta(minutes=10),
                                        low=1.1 - 0.001)  # 1.0990000000000002
    result = upsert(db, OHLCV, pd.concat([written, off_grid]), source="t")
    assert (result.written, result.rejected) == (4, 1)
    assert "a price has more than 15 decimals" in dead_letters(db)[-1][1]
    end = DAY + timedelta(days=1)
    frame = readers.bars(db, "EURUSD", DAY, end)
    for column in ("open", "high", "low", "close", "spread"):
        assert frame[column].tolist() == written[column].tolist()  # bit for bit
    assert frame["volume"].tolist() == written["volume"].tolist()
    latest = readers.latest(db, "bar", "EURUSD")
    assert (latest["open"], latest["close"]) == (1.1, 1.1)
    inputs = feature_inputs(db, "EURUSD", DAY, end, warmup=0, scores_from=DAY,
                            macro_from=DAY, regimes_from=DAY, series=[], regimes=[])
    for column in ("open", "high", "low", "close", "spread"):
        assert np.array_equal(inputs.bars[column], written[column].to_numpy())


def _run_jobs(dsn: str, jobs: list[int], stop: threading.Event) -> None:
    """Run the policy jobs over and over until `stop`, as a busy scheduler would."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.is_set():
            for job in jobs:
                try:
                    conn.execute("CALL run_job(%s)", (job,))
                except psycopg.Error:  # removed by the migration meanwhile
                    pass


def test_migration_goes_through_while_the_old_policies_run() -> None:
    """The scheduler runs a new policy at once: 0012 drops the aggregates and the table while
    a refresh may be under way (before its retry, 2 of 4 such upgrades failed with "tuple
    concurrently deleted"). TimescaleDB only: plain PostgreSQL has no jobs."""
    for attempt in range(2):
        dsn = fresh_dsn(f"bars0012jobs{attempt}")
        try:
            command.upgrade(migrate._config(dsn), BEFORE_0012)
            with psycopg.connect(dsn, autocommit=True) as conn:
                if not conn.execute("SELECT count(*) FROM pg_extension"
                                    " WHERE extname = 'timescaledb'").fetchone()[0]:
                    pytest.skip("TimescaleDB's jobs: not on plain PostgreSQL")
                conn.execute("INSERT INTO underdog.ohlcv SELECT 'EURUSD', now() - interval"
                             " '2 days' + m * interval '1 minute', 1.1, 1.1, 1.1, 1.1, 1, 0.0001,"
                             " 'a' FROM generate_series(0, 20000) m")
                jobs = [r[0] for r in conn.execute(
                    "SELECT job_id FROM timescaledb_information.jobs WHERE hypertable_schema ="
                    " 'underdog' AND hypertable_name IN ('ohlcv', 'ohlcv_1h', 'ohlcv_1d')")]
            stop = threading.Event()
            runner = threading.Thread(target=_run_jobs, args=(dsn, jobs, stop))
            runner.start()
            try:
                time.sleep(0.3)
                assert migrate.upgrade(dsn) == migrate.head()
            finally:
                stop.set()
                runner.join()
            assert len(_values(dsn)) == 20001
        finally:
            drop_database(dsn)

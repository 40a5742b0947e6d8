"""Which server each kind of read reaches, with a real streaming standby behind
UNDERDOG_READER_DATABASE_URL: the replica for plain and fresh reads, the primary for a path
that reads its own write (the online vector after a bar closes)."""

from __future__ import annotations

from datetime import timedelta

import psycopg

from tests.conftest import REDIS_URL
from tests.helpers import DAY, delete_keys
from tests.replica.conftest import PRELOAD, replay_paused
from underdog.features.online import update_online
from underdog.market.backfill import backfill_bars
from underdog.store.db import Database
from underdog.store.online.cache import LatestCache

NEXT = DAY + timedelta(days=1)


def _in_recovery(conn: psycopg.Connection) -> bool:
    return bool(conn.execute("SELECT pg_is_in_recovery()").fetchone()[0])


def test_each_read_goes_where_it_is_named(rdb: Database) -> None:
    assert rdb.replica
    assert rdb.is_timescale == ("timescaledb" in PRELOAD)  # the backend the run asked for
    with rdb.reader() as conn:
        assert _in_recovery(conn)
    with rdb.fresh_reader() as conn:
        assert _in_recovery(conn)
    with rdb.primary_reader() as conn:
        assert not _in_recovery(conn)
    with rdb.connection() as conn:
        assert not _in_recovery(conn)
    # The views hand the same routing to code that only calls `db.reader()`.
    with rdb.primary.reader() as conn:
        assert not _in_recovery(conn)
    with rdb.fresh.reader() as conn:
        assert _in_recovery(conn)


def test_the_online_vector_reads_the_bar_just_written_on_the_primary(
        rdb: Database, standby_admin: psycopg.Connection, redis_prefix: str) -> None:
    backfill_bars(rdb, ["EURUSD"], DAY, NEXT, seed=3)
    rdb.replica_lag(within_s=30.0)
    cache = LatestCache.from_url(REDIS_URL, prefix=f"{redis_prefix}:replica_online")
    try:
        with replay_paused(standby_admin):
            # The next hour closes while the standby is behind: the standby lacks it.
            backfill_bars(rdb, ["EURUSD"], NEXT, NEXT + timedelta(hours=1), seed=4)
            vector = update_online(rdb, cache, "EURUSD")
            with rdb.reader() as conn:
                standby_newest = conn.execute(
                    "SELECT max(time) FROM underdog.ohlcv").fetchone()[0]
        assert standby_newest == NEXT - timedelta(minutes=1)  # the replica is behind ...
        assert vector is not None  # ... and the vector is of the bar just written
        assert vector["time"] == NEXT + timedelta(minutes=59)
        assert cache.get("state", "EURUSD")["time"] == vector["time"]
    finally:
        cache.client.close()
        delete_keys(REDIS_URL, f"{redis_prefix}:replica_online")

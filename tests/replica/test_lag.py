"""A fresh read on the standby: it waits for the standby to replay what the primary had, and
refuses a standby further behind than UNDERDOG_REPLICA_MAX_LAG_S with an error naming the
lag, never a stale value. Behind means WAL bytes not replayed, not the age of the last commit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import psycopg
import pytest

from tests.helpers import DAY, bar_frame
from tests.replica.conftest import replay_paused
from underdog.store.db import Database
from underdog.store.offline.readers import latest
from underdog.store.offline.writers import upsert
from underdog.store.replica import ReplicaLagError
from underdog.store.tables import OHLCV


def _put_bar(db: Database, minute: int, close: float) -> None:
    upsert(db, OHLCV, bar_frame(1, start=DAY + timedelta(minutes=minute), close=close),
           source="test")


@contextmanager
def apply_delay(standby: psycopg.Connection, delay: str) -> Iterator[None]:
    """The standby applies each commit `delay` after the primary made it (a slow replica
    that keeps replaying, unlike a paused one)."""
    standby.execute(f"ALTER SYSTEM SET recovery_min_apply_delay = '{delay}'")
    standby.execute("SELECT pg_reload_conf()")
    try:
        yield
    finally:
        standby.execute("ALTER SYSTEM RESET recovery_min_apply_delay")
        standby.execute("SELECT pg_reload_conf()")


def test_a_fresh_read_refuses_a_paused_standby_and_names_the_lag(
        rdb: Database, standby_admin: psycopg.Connection) -> None:
    _put_bar(rdb, 0, 1.1)
    rdb.replica_lag(within_s=30.0)
    with replay_paused(standby_admin):
        _put_bar(rdb, 1, 1.2)
        # A plain replica read is as stale as the replica: the old newest bar.
        with rdb.reader() as conn:
            assert conn.execute("SELECT max(time) FROM underdog.ohlcv").fetchone()[0] == DAY
        with pytest.raises(ReplicaLagError) as refused:
            latest(rdb, "bar", "EURUSD")  # the latest value: a read that must be fresh
        message = str(refused.value)
        assert "bytes of WAL behind" in message and "replay paused" in message
        assert "UNDERDOG_REPLICA_MAX_LAG_S=30" in message
        assert refused.value.lag.replay_bytes > 0 and refused.value.lag.paused
    rdb.replica_lag(within_s=30.0)
    assert latest(rdb, "bar", "EURUSD")["close"] == pytest.approx(1.2)


def test_a_fresh_read_waits_for_a_standby_within_the_allowed_lag(
        rdb: Database, standby_admin: psycopg.Connection) -> None:
    with apply_delay(standby_admin, "1s"):
        _put_bar(rdb, 0, 1.3)
        row = latest(rdb, "bar", "EURUSD")  # rdb allows 30 s: it waits about 1 s
    assert row is not None and row["close"] == pytest.approx(1.3)


def test_a_fresh_read_refuses_a_standby_slower_than_the_allowed_lag(
        rdb: Database, standby_admin: psycopg.Connection, primary_dsn: str,
        standby_reader_dsn: str) -> None:
    _put_bar(rdb, 0, 1.4)
    rdb.replica_lag(within_s=30.0)
    with Database(primary_dsn, reader_dsn=standby_reader_dsn, max_lag_s=0.2) as strict, \
            apply_delay(standby_admin, "1h"):
        _put_bar(rdb, 1, 1.5)
        with pytest.raises(ReplicaLagError) as refused:
            with strict.fresh.reader():
                pass
    lag = refused.value.lag
    assert lag.behind and not lag.paused
    assert "last replayed commit" in str(refused.value)
    assert "UNDERDOG_REPLICA_MAX_LAG_S=0.2" in str(refused.value)


def test_an_idle_primary_is_no_lag(rdb: Database) -> None:
    """Nothing written since the last replayed commit: caught up, however old that commit."""
    _put_bar(rdb, 0, 1.6)
    lag = rdb.replica_lag(within_s=30.0)
    assert lag.standby and not lag.behind
    assert lag.seconds == 0.0
    with rdb.fresh_reader() as conn:  # and a fresh read goes through at once
        assert conn.execute("SELECT count(*) FROM underdog.ohlcv").fetchone()[0] == 1

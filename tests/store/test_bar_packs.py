"""Bar packs: the same frame as the table, and never a day the table no longer holds.

Every way a day can change after its pack was stored is made here by a real writer or by
hand in SQL, then read back through the packs: the read must show the change.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
import pytest
import redis
from typer.testing import CliRunner

from tests.conftest import REDIS_URL, RedisTarget, fresh_dsn, key_safe
from tests.helpers import DAY, bar_frame, free_port
from underdog.config import get_settings
from underdog.store.admin import drop_database
from underdog.store.db import Database
from underdog.store.offline.readers import bars
from underdog.store.offline.writers import replace_window, upsert
from underdog.store.online import bar_packs
from underdog.store.online.bar_packs import BarPacks
from underdog.store.tables import OHLCV
from underdog_cli.app import app

NEXT = DAY + timedelta(days=1)
ON_BOTH_REDIS = True  # every test with `redis_target` also runs on a Redis Cluster


@pytest.fixture
def packs(db: Database, redis_prefix: str, redis_target: RedisTarget,
          request: pytest.FixtureRequest) -> Iterator[BarPacks]:
    packs = BarPacks.from_url(redis_target.url, cluster=redis_target.cluster,
                              prefix=f"{redis_prefix}:{key_safe(request.node.name)}")
    yield packs
    redis_target.delete_keys(packs.prefix)
    packs.client.close()


def test_key_layout(packs: BarPacks) -> None:
    key = packs.key("7.16384", "EURUSD", 19787)
    if packs.cluster:  # one symbol's days share a slot: a read MGETs them together
        assert key == f"{packs.prefix}:v1:bars1m:{{7.16384:EURUSD}}:2024-03-05"
    else:
        assert key == f"{packs.prefix}:v1:bars1m:7.16384:EURUSD:2024-03-05"


def test_retention_deletes_the_packs_of_days_before_the_first_kept(two_days: Database,
                                                                   packs: BarPacks) -> None:
    upsert(two_days, OHLCV, bar_frame(10, symbol="GBPUSD"), source="test")
    for symbol in ("EURUSD", "GBPUSD"):
        packs.bars(two_days, symbol, DAY, NEXT + timedelta(days=1))
    assert len(list(packs.client.scan_iter(match=f"{packs.prefix}:*"))) == 3
    assert bar_packs.delete_days_before(packs.client, packs.prefix, NEXT.date()) == 2
    origin = packs.origin(two_days)
    assert [k.decode() for k in packs.client.scan_iter(match=f"{packs.prefix}:*")] == [
        packs.key(origin, "EURUSD", 19788)]


@pytest.fixture
def two_days(db: Database) -> Database:
    upsert(db, OHLCV, bar_frame(1440, close=1.1), source="test")
    upsert(db, OHLCV, bar_frame(1000, start=NEXT, close=1.2), source="test")
    return db


def execute(db: Database, statement: str, *params: object) -> None:
    with db.connection() as conn, conn.transaction():
        conn.execute(statement, params)


def test_a_pack_is_the_frame_the_table_gives(two_days: Database, packs: BarPacks) -> None:
    first = packs.bars(two_days, "EURUSD", DAY, NEXT)
    second = packs.bars(two_days, "EURUSD", DAY, NEXT)
    assert dict(packs.stats) == {"miss": 1, "hit": 1}
    expected = bars(two_days, "EURUSD", DAY, NEXT)
    pd.testing.assert_frame_equal(first, expected)
    pd.testing.assert_frame_equal(second, expected)
    key = packs.key(packs.origin(two_days), "EURUSD", 19787)
    assert 3590 < packs.client.ttl(key) <= 3600
    with two_days.connection() as conn:  # a restore or failover starts a new timeline
        timeline = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0][:8]
    fingerprint = bar_packs.decode(packs.client.get(key))[0]
    assert fingerprint.startswith(f"{timeline}/") and fingerprint.split("/")[2].startswith("1440:")
    second.loc[second.index[0], "close"] = 2.0  # a caller may modify what it was given
    assert packs.bars(two_days, "EURUSD", DAY, NEXT)["close"].iloc[0] == 1.1


def test_several_days_and_empty_ones(two_days: Database, packs: BarPacks) -> None:
    start, end = DAY - timedelta(days=1), NEXT + timedelta(days=2)
    for _ in range(2):
        pd.testing.assert_frame_equal(packs.bars(two_days, "EURUSD", start, end),
                                      bars(two_days, "EURUSD", start, end))
    assert dict(packs.stats) == {"miss": 2, "hit": 2}  # days without rows need no pack
    empty = packs.bars(two_days, "GBPUSD", DAY, NEXT)
    pd.testing.assert_frame_equal(empty, bars(two_days, "GBPUSD", DAY, NEXT))
    assert empty.empty


def test_windows_that_are_not_whole_days_read_the_table(two_days: Database,
                                                        packs: BarPacks) -> None:
    for start in (DAY + timedelta(hours=6), DAY + timedelta(microseconds=1)):
        frame = packs.bars(two_days, "EURUSD", start, NEXT)
        pd.testing.assert_frame_equal(frame, bars(two_days, "EURUSD", start, NEXT))
    long = packs.bars(two_days, "EURUSD", DAY - timedelta(days=40), NEXT)
    assert len(long) == 1440
    assert not packs.stats and not list(packs.client.scan_iter(match=f"{packs.prefix}:*"))


@pytest.mark.parametrize("change", [
    # prices are units at the day's scale (EURUSD: 5): close 1.105, high 1.2
    "UPDATE underdog.ohlcv SET close_units = 110500, high_units = 120000 WHERE time = %s",
    "DELETE FROM underdog.ohlcv WHERE time = %s",
    "UPDATE underdog.ohlcv SET volume = volume WHERE time = %s",  # a new row version only
])
def test_a_change_made_by_hand_is_read(two_days: Database, packs: BarPacks, change: str) -> None:
    packs.bars(two_days, "EURUSD", DAY, NEXT)
    execute(two_days, change, DAY + timedelta(hours=3))
    frame = packs.bars(two_days, "EURUSD", DAY, NEXT)
    pd.testing.assert_frame_equal(frame, bars(two_days, "EURUSD", DAY, NEXT))
    assert packs.stats["stale"] == 1
    assert packs.bars(two_days, "EURUSD", DAY, NEXT).equals(frame)  # stored again: a hit
    assert packs.stats["hit"] == 1


def test_writers_rewrites_and_inserts_are_read(two_days: Database, packs: BarPacks) -> None:
    packs.bars(two_days, "EURUSD", NEXT, NEXT + timedelta(days=1))
    upsert(two_days, OHLCV, bar_frame(5, start=NEXT + timedelta(minutes=1000), close=1.3),
           source="test")  # into the day's gap: more rows
    assert len(packs.bars(two_days, "EURUSD", NEXT, NEXT + timedelta(days=1))) == 1005
    # The same count of rows with other values, as a backfill of the window rewrites them.
    replace_window(two_days, OHLCV, bar_frame(1005, start=NEXT, close=1.4), start=NEXT,
                   end=NEXT + timedelta(days=1), source="test")
    frame = packs.bars(two_days, "EURUSD", NEXT, NEXT + timedelta(days=1))
    assert len(frame) == 1005 and (frame["close"] == 1.4).all()
    assert packs.stats["stale"] == 2


def test_a_transaction_with_an_older_xid_that_commits_later_is_read(
        two_days: Database, packs: BarPacks) -> None:
    """A row written by a transaction that began (and got its xid) before the pack was read
    but committed after: its xmin is older than rows the pack saw, and still counts."""
    with psycopg.connect(two_days.dsn) as early:
        early.execute("SELECT pg_current_xact_id()")  # the older xid, taken now
        execute(two_days, "UPDATE underdog.ohlcv SET close_units = 111000 WHERE time = %s",
                DAY)  # 1.11 at EURUSD's scale 5
        assert packs.bars(two_days, "EURUSD", DAY, NEXT)["close"].iloc[0] == 1.11
        early.execute("UPDATE underdog.ohlcv SET close_units = 109000 WHERE time = %s",
                      (DAY + timedelta(minutes=1),))
        early.commit()
    frame = packs.bars(two_days, "EURUSD", DAY, NEXT)
    assert frame["close"].iloc[:2].tolist() == [1.11, 1.09]
    assert packs.stats["stale"] == 1


@contextmanager
def rewriting(db: Database, column: str, end: datetime) -> Iterator[None]:
    """A writer setting `column` of EURUSD's [DAY, end) to 1, 2, 3, ... one transaction each,
    for as long as the block runs."""
    stop = threading.Event()

    def writer() -> None:
        version = 0
        while not stop.is_set():
            version += 1
            execute(db, f"UPDATE underdog.ohlcv SET {column} = %s"
                    " WHERE symbol = 'EURUSD' AND time >= %s AND time < %s", version, DAY, end)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_a_change_during_the_read_is_never_mixed_into_a_pack(two_days: Database,
                                                            packs: BarPacks) -> None:
    """Packs are read with their fingerprint in one statement: whatever a concurrent writer
    commits, the stored pack equals the table as of some moment (checked by rereading)."""
    with rewriting(two_days, "volume", NEXT):
        for _ in range(30):
            frame = packs.bars(two_days, "EURUSD", DAY, NEXT)
            assert frame["volume"].nunique() == 1  # one committed state, never two
    pd.testing.assert_frame_equal(packs.bars(two_days, "EURUSD", DAY, NEXT),
                                  bars(two_days, "EURUSD", DAY, NEXT))


def test_days_read_together_come_from_one_moment(two_days: Database, packs: BarPacks) -> None:
    """A writer rewrites both days in each of its transactions; a two-day read, whatever
    mix of packs and table reads it makes, never shows one day before and one after."""
    end = NEXT + timedelta(days=1)
    with rewriting(two_days, "volume", end):
        for _ in range(60):
            frame = packs.bars(two_days, "EURUSD", DAY, end)
            assert frame["volume"].nunique() == 1, frame["volume"].unique()
    assert packs.stats["stale"] + packs.stats["miss"] > 0 and packs.stats["hit"] > 0


def test_a_day_still_open_is_not_stored(db: Database, packs: BarPacks) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    upsert(db, OHLCV, bar_frame(3, start=today), source="test")
    assert len(packs.bars(db, "EURUSD", today, today + timedelta(days=1))) == 3
    day = int(today.timestamp()) // 86400
    assert not packs.client.exists(packs.key(packs.origin(db), "EURUSD", day))


def test_a_damaged_pack_is_read_again(two_days: Database, packs: BarPacks) -> None:
    packs.bars(two_days, "EURUSD", DAY, NEXT)
    key = packs.key(packs.origin(two_days), "EURUSD", 19787)
    for damaged in (b"garbage", packs.client.get(key)[:-8], b"\0" * 64):
        packs.client.set(key, damaged)
        pd.testing.assert_frame_equal(packs.bars(two_days, "EURUSD", DAY, NEXT),
                                      bars(two_days, "EURUSD", DAY, NEXT))
    assert packs.stats["stale"] == 3


def test_redis_down_reads_the_table(two_days: Database) -> None:
    packs = BarPacks.from_url(f"redis://127.0.0.1:{free_port()}/0", cluster=False)
    frame = packs.bars(two_days, "EURUSD", DAY, NEXT + timedelta(days=1))
    pd.testing.assert_frame_equal(frame, bars(two_days, "EURUSD", DAY, NEXT + timedelta(days=1)))
    assert dict(packs.stats) == {"fallback": 2}


def test_pack_encoding_round_trips() -> None:
    arrays = {c: (pd.Series(range(4)) * 1.5).to_numpy() for c in bar_packs.COLUMNS}
    arrays["time"] = arrays["time"].astype("int64")
    arrays["volume"] = arrays["volume"].astype("int64")
    fingerprint, decoded = bar_packs.decode(bar_packs.encode("4:123", arrays))
    assert fingerprint == "4:123"
    for column, values in arrays.items():
        assert decoded[column].tolist() == values.tolist()
        assert decoded[column].dtype.kind == values.dtype.kind
    assert bar_packs.decode(None) is None


def test_the_cli_prints_the_tables_bars_through_the_packs(
        two_days: Database, dagster_env: None, redis_prefix: str) -> None:
    get_settings.cache_clear()
    try:
        outputs = [CliRunner().invoke(app, ["market", "bars", "eurusd", "2024-03-05",
                                            "2024-03-06"]) for _ in range(2)]
    finally:
        get_settings.cache_clear()
    expected = bars(two_days, "EURUSD", DAY, NEXT).to_csv()
    assert [o.exit_code for o in outputs] == [0, 0]
    assert outputs[0].output == outputs[1].output == expected
    cli_packs = BarPacks.from_url(REDIS_URL, prefix=redis_prefix, cluster=False)
    assert cli_packs.client.exists(cli_packs.key(cli_packs.origin(two_days), "EURUSD", 19787))


def test_packs_of_another_database_are_kept_apart(db: Database, packs: BarPacks) -> None:
    """Fingerprints are only compared within one database: its cluster and oid are in the key."""
    other = fresh_dsn("packs")
    try:
        with Database(other) as second:
            mine, theirs = packs.origin(db), packs.origin(second)
    finally:
        drop_database(other)
    assert mine != theirs and mine.split(".")[0] == theirs.split(".")[0]  # one cluster here
    assert packs.key(mine, "EURUSD", 19787) != packs.key(theirs, "EURUSD", 19787)


def test_a_server_that_hides_its_identity_gets_table_reads(two_days: Database,
                                                          packs: BarPacks) -> None:
    """Some managed servers revoke pg_control_system(): no origin, so no packs at all."""
    execute(two_days, "REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC")
    try:
        frame = packs.bars(two_days, "EURUSD", DAY, NEXT)
    finally:
        execute(two_days, "GRANT EXECUTE ON FUNCTION pg_control_system() TO PUBLIC")
    pd.testing.assert_frame_equal(frame, bars(two_days, "EURUSD", DAY, NEXT))
    assert not packs.stats and not list(packs.client.scan_iter(match=f"{packs.prefix}:*"))


def test_a_failed_store_is_not_retried_for_every_day(two_days: Database,
                                                     redis_prefix: str) -> None:
    """A Redis user that may read but not SET: the first failed store ends storing for the
    read (each failure could cost a timeout), and every day still comes from the table."""
    admin, user = redis.Redis.from_url(REDIS_URL), f"{redis_prefix}_no_set"
    admin.acl_setuser(user, enabled=True, passwords=["+pw"], keys=["*"],
                      commands=["+@all", "-set"])
    try:
        client = redis.Redis.from_url(REDIS_URL.replace("redis://", f"redis://{user}:pw@"))
        packs = BarPacks(client, prefix=f"{redis_prefix}:no_set")
        end = NEXT + timedelta(days=1)
        frame = packs.bars(two_days, "EURUSD", DAY, end)
    finally:
        admin.acl_deluser(user)
    pd.testing.assert_frame_equal(frame, bars(two_days, "EURUSD", DAY, end))
    assert dict(packs.stats) == {"miss": 2, "error": 1}


def test_a_column_change_without_new_row_versions_is_read(two_days: Database,
                                                          packs: BarPacks) -> None:
    """Renaming columns keeps every row's xmin and ctid: the column hash tells."""
    packs.bars(two_days, "EURUSD", DAY, NEXT)
    swap = ("ALTER TABLE underdog.ohlcv RENAME high_units TO swap_tmp;"
            " ALTER TABLE underdog.ohlcv RENAME low_units TO high_units;"
            " ALTER TABLE underdog.ohlcv RENAME swap_tmp TO low_units")
    execute(two_days, swap)
    try:
        swapped = packs.bars(two_days, "EURUSD", DAY, NEXT)
        expected = bars(two_days, "EURUSD", DAY, NEXT)
    finally:
        execute(two_days, swap)
    pd.testing.assert_frame_equal(swapped, expected)
    assert (swapped["high"] < swapped["low"]).all() and packs.stats["stale"] == 1


def test_another_layout_of_columns_reads_as_damaged() -> None:
    arrays = {c: np.arange(3, dtype="int64" if c in ("time", "volume") else "float64")
              for c in bar_packs.COLUMNS}
    value = bar_packs.encode("f", arrays)
    assert bar_packs.decode(value) is not None
    other = hashlib.blake2b(b"time:<i8,close:<f8", digest_size=8).digest()
    assert bar_packs.decode(value.replace(bar_packs._MAGIC, other)) is None
    with pytest.raises(ValueError, match="decode_responses"):
        BarPacks(redis.Redis.from_url(REDIS_URL, decode_responses=True))

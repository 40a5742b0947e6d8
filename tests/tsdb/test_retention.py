"""Retention (`underdog db retention`): each table keeps its window, and Redis forgets what it
held for the rows that went. TimescaleDB drops whole chunks (its policy jobs, run now);
plain PostgreSQL deletes rows. Both run here, whichever the test server is."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from typer.testing import CliRunner

from tests.conftest import REDIS_URL
from tests.helpers import delete_keys
from tests.tsdb.conftest import chunks
from underdog.config import get_settings
from underdog.store import retention
from underdog.store.db import Database
from underdog.store.offline.readers import latest
from underdog.store.online.bar_packs import BarPacks
from underdog.store.online.cache import LatestCache
from underdog_cli.app import app

# table: (an insert of one row at %(t)s, days either side of the cutoff)
ROWS = {
    # stored form (revision 0012): open 1.1, high 1.2, low 1.0, close 1.1 at scale 1
    "ohlcv": ("INSERT INTO underdog.ohlcv VALUES (%(s)s, %(t)s, 1, 11, 12, 10, 11, 10, 0.0001,"
              " 'test')", 10),  # 7-day chunks
    # stored form (revision 0010): bid 1.1, ask 1.1001 at scale 4, known at its time
    "ticks": ("INSERT INTO underdog.ticks VALUES (%(s)s, %(t)s, 0, 4, 11000, 11001, 0, NULL,"
              " NULL, 0)", 3),
    "macro_indicators": ("INSERT INTO underdog.macro_indicators VALUES ('VIXCLS', %(t)s,"
                         " %(t)s::date, NULL, 15.0, NULL, NULL, %(t)s)", 10),  # 7-day chunks
}


def around_cutoffs(db: Database, now: datetime) -> dict[str, datetime]:
    """A row a minute before each table's cutoff, and at that time on the days around it:
    {table: cutoff}."""
    cut = retention.cutoffs(db, now)
    with db.connection() as conn, conn.transaction():
        for table, (insert, days) in ROWS.items():
            moment = (cut[table] - timedelta(minutes=1)).replace(second=0, microsecond=0)
            for d in range(-days, days + 1):
                conn.execute(insert, {"s": "EURUSD", "t": moment + timedelta(days=d)})
    return {t: cut[t] for t in ROWS}


def times(db: Database, table: str) -> list[datetime]:
    with db.connection() as conn:
        return [r[0] for r in conn.execute(f"SELECT time FROM underdog.{table} ORDER BY 1")]


@pytest.fixture
def prefix(redis_prefix: str) -> Iterator[str]:
    prefix = f"{redis_prefix}:retention"
    yield prefix
    delete_keys(REDIS_URL, prefix)


def test_retention_drops_past_the_window_and_what_redis_held_for_it(db: Database,
                                                                    prefix: str) -> None:
    now = datetime.now(UTC)
    cut = around_cutoffs(db, now)
    before = {t: times(db, t) for t in ROWS}
    spans = {t: chunks(db, t) for t in ROWS} if db.is_timescale else {}
    packs = BarPacks.from_url(REDIS_URL, prefix=prefix)
    first = cut["ohlcv"].replace(hour=0, minute=0, second=0, microsecond=0)
    days = [first + timedelta(days=d) for d in range(-3, 3)]
    for day in days:  # each closed day read once through the packs: stored in Redis
        assert len(packs.bars(db, "EURUSD", day, day + timedelta(days=1))) == 1
    cache = LatestCache.from_url(REDIS_URL, prefix=prefix,
                                 loader=lambda k, s, src: latest(db, k, s, src))
    cache.put("bar", "USDJPY", {"time": cut["ohlcv"] - timedelta(days=1), "close": 151.0})
    cache.put("bar", "EURUSD", {"time": now - timedelta(minutes=1), "close": 1.1})
    client = redis.Redis.from_url(REDIS_URL)
    assert len(list(client.scan_iter(match=f"{prefix}:v1:bars1m:*"))) == len(days)

    run = retention.apply(db, cache, now=now)

    for table, cutoff in cut.items():
        if db.is_timescale:  # whole chunks: those ending by the cutoff go, the rest stay whole
            kept = [(lo, hi) for lo, hi, _ in spans[table] if hi > cutoff]
            assert [(lo, hi) for lo, hi, _ in chunks(db, table)] == kept, table
            assert run.dropped[table] == len(spans[table]) - len(kept) > 0, table
            expected = [t for t in before[table] if any(lo <= t < hi for lo, hi in kept)]
            assert min(expected) < cutoff, f"{table}: the straddling chunk kept whole"
        else:
            expected = [t for t in before[table] if t >= cutoff]
            assert run.dropped[table] == len(before[table]) - len(expected), table
        assert times(db, table) == expected, table
    kept_packs = {k.decode().rsplit(":", 1)[-1]
                  for k in client.scan_iter(match=f"{prefix}:v1:bars1m:*")}
    assert kept_packs == {d.date().isoformat() for d in days if d.date() >= cut["ohlcv"].date()}
    assert client.exists(cache.key("bar", "USDJPY")) == 0  # no row left: no value served
    assert cache.get("bar", "EURUSD")["time"] == max(times(db, "ohlcv"))  # the table's newest
    assert run.packs_deleted == len(days) - len(kept_packs)
    packs.client.close()
    client.close()


def test_db_retention_command(db: Database, dsn: str, prefix: str,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    cut = around_cutoffs(db, datetime.now(UTC))
    monkeypatch.setenv("UNDERDOG_DATABASE_URL", dsn)
    monkeypatch.setenv("UNDERDOG_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("UNDERDOG_REDIS_PREFIX", prefix)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["db", "retention"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    unit = "chunks" if db.is_timescale else "rows"
    for table in cut:
        assert re.search(rf"^{table}: [1-9]\d* {unit} dropped", result.output, re.M), table
    # rows past the cutoff go; on TimescaleDB whole chunks, of 7 days for ohlcv (0012)
    oldest = cut["ohlcv"] - (timedelta(days=7) if db.is_timescale else timedelta(0))
    assert times(db, "ohlcv") and min(times(db, "ohlcv")) >= oldest
    assert "redis: 0 bar packs deleted" in result.output

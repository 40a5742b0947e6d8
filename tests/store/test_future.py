"""No value from the future: nothing stamped after the write moment is stored, and a backfill
of a day still open stops at now without deleting what it does not rewrite.

A fixed "now" goes in through the writers' `now` (the clock parameter); no test sleeps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.conftest import REDIS_URL
from tests.helpers import DAY, bar_frame, dead_letters
from underdog.config import get_settings
from underdog.features import materialize
from underdog.market.backfill import backfill, backfill_bars
from underdog.store.db import Database
from underdog.store.offline.validation import FUTURE
from underdog.store.offline.writers import replace_window, upsert
from underdog.store.tables import FACT_TABLES, OHLCV, TICKS, Table
from underdog_cli.app import app

NOW = DAY + timedelta(hours=12, seconds=30)  # 2024-03-05 12:00:30 UTC, a trading Tuesday
SKEW = timedelta(seconds=2)  # inside the default 5 s clock tolerance


CHECKED = {"symbol": "EURUSD", "regime": "trend", "side": "long"}  # the tables' CHECKs


def _value(table: Table, name: str, pgtype: str, moment: datetime) -> object:
    if name in CHECKED:
        return CHECKED[name]
    return {"text": name, "timestamptz": moment, "date": moment.date(), "float8": 1.0,
            "int8": 1, "int4": 1, "bool": True, "jsonb": None}[pgtype]


def _row(table: Table, time: datetime, available_at: datetime) -> dict[str, object]:
    """A valid row of `table` (all prices 1.0, so OHLC holds) at `time` / `available_at`."""
    row = {c.name: _value(table, c.name, c.pgtype, time) for c in table.columns}
    row["time"] = time
    if "available_at" in row:
        row["available_at"] = available_at
    return row


def _stored(db: Database, table: Table) -> list[tuple[datetime, datetime | None]]:
    stamp = "available_at" if "available_at" in table.column_names else "NULL"
    with db.connection() as conn:
        return conn.execute(f"SELECT time, {stamp} FROM {table.readable} ORDER BY time"
                            ).fetchall()


@pytest.mark.parametrize("name", sorted(FACT_TABLES))
def test_every_fact_table_rejects_rows_stamped_after_the_write_moment(db: Database,
                                                                      name: str) -> None:
    table = FACT_TABLES[name]
    past = NOW - timedelta(minutes=10)
    rows = [
        _row(table, past, past),  # known before now: stored
        _row(table, NOW + SKEW, NOW + SKEW),  # clock skew within the tolerance: stored
        _row(table, NOW + timedelta(hours=1), NOW + timedelta(hours=1)),  # time ahead
        _row(table, datetime(2030, 1, 7, tzinfo=UTC), datetime(2030, 1, 7, tzinfo=UTC)),
    ]
    if "available_at" in table.column_names:  # happened before now, known only after it
        rows.append(_row(table, past - timedelta(minutes=1), NOW + timedelta(minutes=5)))
    result = upsert(db, table, pd.DataFrame(rows), source="test", now=NOW)
    assert result.written == 2 and result.reasons == {FUTURE: len(rows) - 2}
    assert all(t <= NOW + SKEW and (a is None or a <= NOW + SKEW) for t, a in _stored(db, table))
    assert {reason for target, reason, _ in dead_letters(db)} == {FUTURE}


def test_the_clock_tolerance_is_a_setting(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNDERDOG_CLOCK_TOLERANCE_S", "0")
    get_settings.cache_clear()
    try:
        result = upsert(db, OHLCV, bar_frame(1, start=NOW + SKEW), source="test", now=NOW)
    finally:
        get_settings.cache_clear()
    assert (result.written, result.reasons) == (0, {FUTURE: 1})


def test_a_backfill_of_a_future_day_stores_nothing(db: Database) -> None:
    day = datetime(2030, 1, 7, tzinfo=UTC)
    run = backfill(db, ["EURUSD"], day, day + timedelta(days=1), now=NOW)
    assert run.bars.written == run.ticks.written == 0
    assert _stored(db, OHLCV) == [] and _stored(db, TICKS) == []


def test_the_cli_backfill_of_2030_stores_no_bar(db: Database, redis_prefix: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("DATABASE_URL", db.dsn), ("REDIS_URL", REDIS_URL),
                        ("REDIS_PREFIX", f"{redis_prefix}_future"), ("MARKET_SOURCE", "simulated")):
        monkeypatch.setenv(f"UNDERDOG_{name}", value)
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(app, ["market", "backfill", "--start", "2030-01-07",
                                       "--end", "2030-01-07", "--symbol", "EURUSD"])
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    assert _stored(db, OHLCV) == [] and _stored(db, TICKS) == []


def _streamed(db: Database) -> None:
    """What the streamer wrote for the open minute: its provisional bar and a tick stamped a
    second past the backfill's now (a broker clock a little ahead)."""
    upsert(db, OHLCV, bar_frame(1, start=NOW.replace(second=0), close=1.2).assign(source="mql5"),
           source="mql5", now=NOW)
    tick = {"symbol": "EURUSD", "time": NOW + timedelta(seconds=1), "seq": 0, "bid": 1.2,
            "ask": 1.2001, "bid_volume": None, "ask_volume": None,
            "available_at": NOW + timedelta(seconds=1)}
    upsert(db, TICKS, pd.DataFrame([tick]), source="mql5", now=NOW + timedelta(seconds=1))


def test_a_backfill_of_today_stops_at_now_and_keeps_what_it_does_not_rewrite(
        db: Database) -> None:
    _streamed(db)
    run = backfill(db, ["EURUSD"], DAY, DAY + timedelta(days=1), now=NOW)
    assert run.bars.written == 12 * 60  # 00:00 .. 11:59, each closed by 12:00:30
    assert run.ticks.written > 0 and run.ticks.rejected == run.bars.rejected == 0
    bars, ticks = _stored(db, OHLCV), _stored(db, TICKS)
    simulated = [t for t, a in ticks if t <= NOW]
    assert len(simulated) == run.ticks.written
    assert all(a <= NOW for _, a in ticks if _ <= NOW)
    # The open minute's streamed bar and the streamed tick after now are still there.
    assert bars[-1][0] == NOW.replace(second=0) and len(bars) == 12 * 60 + 1
    assert ticks[-1][0] == NOW + timedelta(seconds=1)
    assert run.ticks.replaced_until <= NOW and run.bars.replaced_until <= NOW
    with db.connection() as conn:
        sources = conn.execute("SELECT source, count(*) FROM underdog.ohlcv GROUP BY source"
                               " ORDER BY source").fetchall()
    assert sources == [("mql5", 1), ("simulated", 12 * 60)]


def test_an_open_window_without_rows_deletes_nothing(db: Database) -> None:
    _streamed(db)
    result = replace_window(db, OHLCV, bar_frame(0), source="test", start=DAY,
                            end=DAY + timedelta(days=1), now=NOW)
    assert (result.deleted, result.replaced_until) == (0, DAY)
    assert len(_stored(db, OHLCV)) == 1


def test_an_open_window_ends_for_each_symbol_at_its_own_last_row(db: Database) -> None:
    """GBPUSD's source stops at 10:00, EURUSD's at noon: the streamer's GBPUSD bars after
    10:00 are not GBPUSD rows the backfill rewrites, so they stay."""
    streamed = bar_frame(30, symbol="GBPUSD", start=DAY + timedelta(hours=11), close=1.27)
    upsert(db, OHLCV, streamed.assign(source="mql5"), source="mql5", now=NOW)
    rows = pd.concat([bar_frame(12 * 60, symbol="EURUSD"),
                      bar_frame(10 * 60, symbol="GBPUSD", close=1.26)], ignore_index=True)
    result = replace_window(db, OHLCV, rows, source="test", start=DAY,
                            end=DAY + timedelta(days=1), only={"symbol": ["EURUSD", "GBPUSD"]},
                            now=NOW)
    assert result.deleted == 0 and result.written == 22 * 60
    with db.connection() as conn:
        kept = conn.execute("SELECT count(*) FROM underdog.ohlcv WHERE source = 'mql5'"
                            ).fetchone()[0]
    assert kept == 30


def test_a_closed_day_is_replaced_whole(db: Database) -> None:
    later = NOW + timedelta(days=1)
    upsert(db, OHLCV, bar_frame(1, start=DAY + timedelta(hours=23, minutes=59), close=1.3),
           source="mql5", now=later)
    result = replace_window(db, OHLCV, bar_frame(3), source="test", start=DAY,
                            end=DAY + timedelta(days=1), now=later)
    assert (result.deleted, result.replaced_until) == (1, DAY + timedelta(days=1))


def test_state_vectors_of_an_open_day_stop_at_now(db: Database) -> None:
    backfill_bars(db, ["EURUSD"], DAY - timedelta(days=1), DAY + timedelta(days=1), seed=7)
    result = materialize.state_vectors(db, ["EURUSD"], DAY, DAY + timedelta(days=1), now=NOW)
    assert result.rejected == 0 and result.written == 12 * 60  # bars 00:00 .. 11:59
    assert max(a for _, a in _stored(db, FACT_TABLES["state_vectors"])) <= NOW

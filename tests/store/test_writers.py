"""Writers: idempotent windows, dead letters with reasons, nothing half-written."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import numpy as np
import pandas as pd
import psycopg
import pytest

from tests.helpers import DAY, bar_frame, dead_letters, table_checksum
from underdog.market.backfill import backfill_bars
from underdog.store.db import Database
from underdog.store.offline.writers import replace_window, upsert
from underdog.store.tables import OHLCV

END = DAY + timedelta(days=1)


def test_rewriting_a_window_gives_identical_rows(db: Database) -> None:
    first = backfill_bars(db, ["EURUSD", "GBPUSD"], DAY, END, seed=3).result
    before = table_checksum(db, "ohlcv")
    second = backfill_bars(db, ["EURUSD", "GBPUSD"], DAY, END, seed=3).result
    assert before[0] == first.written == 2 * 1440
    assert second.deleted == first.written
    assert table_checksum(db, "ohlcv") == before


def test_replace_touches_only_its_window_and_symbols(db: Database) -> None:
    replace_window(db, OHLCV, bar_frame(5, start=DAY - timedelta(minutes=5)), source="t",
                   start=DAY - timedelta(minutes=5), end=DAY)
    replace_window(db, OHLCV, bar_frame(5, symbol="GBPUSD"), source="t", start=DAY, end=END)
    result = replace_window(db, OHLCV, bar_frame(3), source="t", start=DAY, end=END,
                            only={"symbol": ["EURUSD"]})
    assert result.deleted == 0  # GBPUSD's rows in the window are not ours to replace
    assert table_checksum(db, "ohlcv")[0] == 5 + 5 + 3


BAD_ROWS = [
    ({"time": pd.Timestamp("2024-03-05 00:10")}, "time is not tz-aware UTC"),
    ({"open": float("nan")}, "open is missing"),
    ({"close": -1.0}, "close must be a positive price"),
    ({"high": float("inf")}, "high is not finite"),
    ({"low": 1.2, "high": 1.15}, "OHLC inconsistent: need low <= open, close <= high"),
    ({"volume": -3}, "volume must be >= 0"),
    ({"symbol": "eur/usd"}, "symbol has an invalid symbol format"),
    ({"symbol": "USDTRY"}, "symbol is not a known symbol"),
    ({"time": END + timedelta(minutes=1)}, "time outside the window"),
    ({"time": DAY}, "duplicate key in batch"),
    ({"source": None}, "source is missing"),
]


def _with_bad_rows(good: pd.DataFrame) -> pd.DataFrame:
    rows = good.astype({"time": object}).to_dict("records")
    for i, (change, _) in enumerate(BAD_ROWS):
        row = dict(rows[0], time=DAY + timedelta(hours=1, minutes=i), volume=10)
        rows.append({**row, **change})
    return pd.DataFrame(rows)


def test_bad_rows_become_dead_letters_and_the_rest_is_written(db: Database) -> None:
    good = bar_frame(20)
    result = replace_window(db, OHLCV, _with_bad_rows(good), source="unit", start=DAY,
                            end=END, symbols=["EURUSD", "GBPUSD"])
    assert (result.written, result.rejected) == (20, len(BAD_ROWS))
    letters = dead_letters(db)
    assert len(letters) == len(BAD_ROWS)
    for (table, reason, payload), (change, expected) in zip(letters, BAD_ROWS, strict=True):
        assert table == "ohlcv"
        assert reason.startswith(expected)
        assert payload["symbol"] == change.get("symbol", "EURUSD")  # the row itself is kept
    assert table_checksum(db, "ohlcv")[0] == 20


def test_a_naive_time_column_rejects_every_row(db: Database) -> None:
    frame = bar_frame(4)
    frame["time"] = frame["time"].dt.tz_localize(None)
    result = replace_window(db, OHLCV, frame, source="unit", start=DAY, end=END)
    assert (result.written, result.rejected) == (0, 4)
    assert {r[1] for r in dead_letters(db)} == {"time is not tz-aware UTC"}


def test_a_frame_without_a_column_is_an_error_and_writes_nothing(db: Database) -> None:
    with pytest.raises(ValueError, match="lacks columns \\['spread'\\]"):
        replace_window(db, OHLCV, bar_frame(3).drop(columns="spread"), source="unit",
                       start=DAY, end=END)
    assert table_checksum(db, "ohlcv")[0] == 0
    assert dead_letters(db) == []


def _terminate_copy(dsn: str, stop: threading.Event, killed: list[int]) -> None:
    """Kill the backend of whoever is running a COPY into ohlcv, once."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.is_set():
            pids = [r[0] for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND state = 'active' AND query LIKE 'COPY \"underdog\".\"ohlcv\"%'"
            )]
            for pid in pids:
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
                killed.append(pid)
                return
            time.sleep(0.005)


def test_a_connection_lost_mid_copy_leaves_the_window_as_it_was(db: Database) -> None:
    # The window holds 1 day of "old" bars; a new batch replacing it dies mid-COPY.
    start = DAY
    old = bar_frame(1440, close=1.1)
    replace_window(db, OHLCV, old, source="old", start=start, end=END)
    before = table_checksum(db, "ohlcv")
    n = 400_000
    big = bar_frame(n, close=1.3)
    big["symbol"] = np.where(np.arange(n) % 2 == 0, "EURUSD", "GBPUSD")
    big["time"] = start + pd.to_timedelta(np.arange(n) // 2 % 1440, unit="min") + \
        pd.to_timedelta(np.arange(n) // 2880, unit="D")
    window_end = start + timedelta(days=n // 2880 + 1)
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_terminate_copy, args=(db.dsn, stop, killed))
    killer.start()
    try:
        with pytest.raises(psycopg.OperationalError):
            replace_window(db, OHLCV, big, source="new", start=start, end=window_end)
    finally:
        stop.set()
        killer.join()
    assert killed, "the COPY was never seen running"
    assert table_checksum(db, "ohlcv") == before  # not one old row lost, not one new row in
    assert dead_letters(db) == []
    # The pool replaced the dead connection: the next write works.
    assert replace_window(db, OHLCV, old, source="old", start=start, end=END).written == 1440


def test_upsert_inserts_then_updates_by_key(db: Database) -> None:
    assert upsert(db, OHLCV, bar_frame(5, close=1.1), source="stream").written == 5
    upsert(db, OHLCV, bar_frame(3, close=1.2), source="stream")
    with db.connection() as conn:
        closes = [r[0] for r in conn.execute("SELECT close FROM underdog.ohlcv_values"
                                                   " ORDER BY time")]
    assert closes == [1.2, 1.2, 1.2, 1.1, 1.1]


def test_upsert_dead_letters_its_bad_rows_in_the_same_transaction(db: Database) -> None:
    frame = bar_frame(3)
    frame.loc[1, "spread"] = -1.0
    result = upsert(db, OHLCV, frame, source="stream")
    assert (result.written, result.rejected) == (2, 1)
    assert [r[1] for r in dead_letters(db)] == ["spread must be >= 0"]


def test_rows_outside_only_are_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="outside"):
        replace_window(db, OHLCV, bar_frame(3, symbol="GBPUSD"), source="t", start=DAY,
                       end=END, only={"symbol": ["EURUSD"]})



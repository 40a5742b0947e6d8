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
from underdog.store.offline.writers import (
    WINDOWS_PER_STREAM,
    _days,
    replace_window,
    stream_windows,
    upsert,
)
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




# ------------------------------------------------------------------ several COPY streams


def _bars(symbols: tuple[str, ...], start, days: int, close: float) -> pd.DataFrame:
    return pd.concat([bar_frame(1440 * days, symbol=s, start=start, close=close)
                      for s in symbols], ignore_index=True)


def _micros(frame: pd.DataFrame) -> np.ndarray:
    return pd.DatetimeIndex(frame["time"]).as_unit("us").asi8


def test_streams_cut_the_window_into_contiguous_whole_days_of_about_equal_rows() -> None:
    start, end = DAY + timedelta(hours=6), DAY + timedelta(days=6)
    days = _days(start, end)  # 18 h, then 5 whole days
    bars = pd.concat([bar_frame(1440 * 3, start=DAY + timedelta(days=1)),  # days 1-3: busy
                      bar_frame(60, start=DAY + timedelta(days=5))])  # day 5: one hour
    windows = stream_windows(days, _micros(bars), 3)
    assert windows[0][0] == start and windows[-1][1] == end
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:], strict=False))
    assert all(w[1] in {hi for _, hi in days} for w in windows)  # cut at midnights
    counts = [int(bars["time"].between(lo, hi, inclusive="left").sum()) for lo, hi in windows]
    assert counts == [1440, 1440, 1440 + 60]
    assert stream_windows(days, _micros(bars), 1) == [(start, end)]
    assert len(stream_windows(days[:2], _micros(bars), 4)) == 2  # no more streams than days


@pytest.mark.parametrize("streams", [2, 3, 4])
def test_streams_write_what_one_transaction_writes(db: Database, streams: int) -> None:
    start = DAY + timedelta(hours=7)  # not a midnight
    end = start + timedelta(days=4)
    old = _bars(("EURUSD", "GBPUSD", "USDJPY"), start - timedelta(days=1), 6, close=1.1)
    new = _bars(("EURUSD", "GBPUSD"), start, 4, close=1.2)
    new = new[~new["time"].between(DAY + timedelta(days=2), DAY + timedelta(days=3),
                                   inclusive="left")]  # a day without new rows: emptied

    def write(n: int) -> tuple[object, tuple[int, str]]:
        with db.connection() as conn:
            conn.execute("DELETE FROM underdog.ohlcv")
        replace_window(db, OHLCV, old, source="t", start=old["time"].min(),
                       end=old["time"].max() + timedelta(minutes=1))
        result = replace_window(db, OHLCV, new, source="t", start=start, end=end,
                                only={"symbol": ["EURUSD", "GBPUSD"]}, streams=n)
        return result, table_checksum(db, "ohlcv")

    one, expected = write(1)
    many, got = write(streams)
    assert (many.written, many.deleted) == (one.written, one.deleted) == (len(new), 2 * 5760)
    assert got == expected


def test_a_failing_stream_rolls_back_its_own_days_and_no_other(db: Database) -> None:
    end = DAY + timedelta(days=8)
    replace_window(db, OHLCV, _bars(("EURUSD",), DAY, 8, close=1.1), source="old",
                   start=DAY, end=end)
    new = _bars(("EURUSD",), DAY, 8, close=1.2)
    new.loc[len(new) - 1, "volume"] = 777  # valid to us; the server refuses it (below)
    windows = stream_windows(_days(DAY, end), _micros(new), 2 * WINDOWS_PER_STREAM)
    last = windows[-1][0]
    assert len(windows) == 2 * WINDOWS_PER_STREAM and last < end - timedelta(days=1)
    with db.connection() as conn:
        conn.execute("ALTER TABLE underdog.ohlcv ADD CONSTRAINT not_777 CHECK (volume <> 777)")
    try:
        with pytest.raises(psycopg.errors.CheckViolation):
            replace_window(db, OHLCV, new, source="new", start=DAY, end=end, streams=2)
    finally:
        with db.connection() as conn:
            conn.execute("ALTER TABLE underdog.ohlcv DROP CONSTRAINT not_777")
    with db.connection() as conn:
        closes = dict(conn.execute(
            "SELECT time < %s, array_agg(DISTINCT close) FROM underdog.ohlcv_values GROUP BY 1",
            (last,)).fetchall())
    assert closes == {True: [1.2], False: [1.1]}  # the last window, days long, as it was
    assert table_checksum(db, "ohlcv")[0] == 8 * 1440
    assert dead_letters(db) == []


def test_streams_below_one_are_an_error_and_write_nothing(db: Database) -> None:
    with pytest.raises(ValueError, match="streams must be >= 1"):
        replace_window(db, OHLCV, bar_frame(3), source="t", start=DAY, end=END, streams=0)
    assert table_checksum(db, "ohlcv")[0] == 0

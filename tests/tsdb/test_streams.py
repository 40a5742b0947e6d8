"""Several COPY streams on TimescaleDB: the chunks a window needs are made first, so the
streams never wait for one another's chunk-creating transaction."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg

from tests.helpers import DAY, bar_frame, table_checksum
from tests.tsdb.conftest import chunks
from underdog.store.db import Database
from underdog.store.offline.bar_storage import encode_bars
from underdog.store.offline.writers import create_chunks, replace_window
from underdog.store.tables import OHLCV


def _bars(days: int, close: float) -> pd.DataFrame:
    return pd.concat([bar_frame(1440 * days, symbol=s, close=close)
                      for s in ("EURUSD", "GBPUSD")], ignore_index=True)


def _stored(bars: pd.DataFrame) -> pd.DataFrame:
    """The rows as writers store them (integer prices, revision 0012): what create_chunks takes."""
    return encode_bars(bars)[0]


def _chunk_starts(days: int) -> list[datetime]:
    """Where the 7-day chunks (revision 0012, aligned on the Unix epoch) of DAY's `days` start."""
    epoch, week = datetime(1970, 1, 1, tzinfo=UTC), timedelta(days=7)
    return sorted({epoch + (DAY + timedelta(days=d) - epoch) // week * week
                   for d in range(days)})


def test_chunks_made_ahead_hold_no_rows_and_leave_the_rows_there(timescale: Database) -> None:
    db = timescale
    replace_window(db, OHLCV, bar_frame(60), source="t", start=DAY, end=DAY + timedelta(days=1))
    before = table_checksum(db, "ohlcv")
    create_chunks(db, OHLCV, _stored(_bars(4, close=1.2)))
    assert [c[0] for c in chunks(db, "ohlcv")] == _chunk_starts(4)
    assert table_checksum(db, "ohlcv") == before  # no probe row left, no row gone
    create_chunks(db, OHLCV, _stored(_bars(4, close=1.3)))  # every chunk there: nothing to do
    assert len(chunks(db, "ohlcv")) == len(_chunk_starts(4))
    assert table_checksum(db, "ohlcv") == before


def test_streams_do_not_wait_for_a_transaction_that_creates_a_chunk(timescale: Database) -> None:
    db = timescale
    bars = _bars(4, close=1.2)
    end = DAY + timedelta(days=4)
    create_chunks(db, OHLCV, _stored(bars))  # as replace_window does first, before its streams
    errors: list[BaseException] = []

    def rewrite() -> None:
        try:
            replace_window(db, OHLCV, bars, source="t", start=DAY, end=end, streams=2)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    # TimescaleDB creates a chunk under this lock on the hypertable, held until commit.
    with psycopg.connect(db.dsn) as other:
        other.execute("LOCK TABLE underdog.ohlcv IN SHARE UPDATE EXCLUSIVE MODE")
        writer = threading.Thread(target=rewrite)
        writer.start()
        writer.join(timeout=30)
        finished = not writer.is_alive()
        other.rollback()
    writer.join()
    assert finished, "the streams waited for the other transaction's lock"
    assert errors == []
    written = table_checksum(db, "ohlcv")
    replace_window(db, OHLCV, bars, source="t", start=DAY, end=end)  # one transaction
    assert table_checksum(db, "ohlcv") == written and written[0] == len(bars)

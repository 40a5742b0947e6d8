"""The columnstore on the real TimescaleDB server: the policy compresses old chunks, reads give
the same values before and after, and every write path into compressed chunks keeps the rows
plain PostgreSQL keeps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REDIS_URL
from tests.helpers import bar_frame, delete_keys, table_checksum
from tests.tsdb.conftest import chunks, run_jobs
from underdog.features.online import vector_at
from underdog.features.state_vector import Inputs, load_inputs, training_frame
from underdog.macro.vintages import macro_asof
from underdog.market.backfill import backfill_bars
from underdog.store.db import Database
from underdog.store.offline.readers import bars
from underdog.store.offline.writers import replace_window, upsert
from underdog.store.online.bar_packs import BarPacks
from underdog.store.tables import MACRO_INDICATORS, OHLCV, REGIME_PREDICTIONS, SENTIMENT_SCORES
from underdog_streaming.batcher import BarRow, TickRow, WriteBatch
from underdog_streaming.sink import Sink, StreamDatabase

DAY = datetime(2024, 3, 12, tzinfo=UTC)  # a Tuesday, long past every columnstore window
END = DAY + timedelta(hours=12)
FACTS = ("ohlcv", "sentiment_scores", "macro_indicators", "regime_predictions")


def at(hours: int, minutes: int = 0) -> datetime:
    return DAY + timedelta(hours=hours, minutes=minutes)


def facts(db: Database) -> None:
    """A macro vintage history, a regime label and a sentiment score around DAY."""
    macro = pd.DataFrame(
        [("VIXCLS", datetime(2024, 3, 8, tzinfo=UTC), date(2024, 3, 9), 15.0, at(-27)),
         ("VIXCLS", datetime(2024, 3, 11, tzinfo=UTC), date(2024, 3, 11), 16.0, at(-1)),
         ("DFF", datetime(2024, 3, 11, tzinfo=UTC), date(2024, 3, 11), 5.33, at(-2))],
        columns=["series_id", "time", "realtime_start", "value", "available_at"])
    macro["realtime_end"], macro["name"], macro["units"] = None, None, None
    upsert(db, MACRO_INDICATORS, macro, source="test")
    upsert(db, REGIME_PREDICTIONS, pd.DataFrame({
        "symbol": ["EURUSD"], "time": [at(7)], "available_at": [at(7, 15)],
        "model_version": ["2024-03-12"], "regime": ["trend"], "confidence": [0.8],
        "p_trend": [0.8], "p_range": [0.1], "p_transition": [0.1], "features": [None]}),
        source="test")
    upsert(db, SENTIMENT_SCORES, pd.DataFrame({
        "symbol": ["EURUSD"], "source": ["newsapi"], "item_id": ["a"], "time": [at(7)],
        "available_at": [at(7, 30)], "sentiment": [0.5], "confidence": [0.9],
        "label": ["positive"], "model": ["test"]}), source="test")


def reads(db: Database) -> dict:
    """Bars (M1 and the real-time 1h summary), the as-of joined inputs, the training frame,
    online vectors and a vintage as-of read."""
    inputs = load_inputs(db, "EURUSD", DAY, END)
    return {
        "bars": bars(db, "EURUSD", DAY - timedelta(days=1), END),
        "bars_1h": bars(db, "EURUSD", DAY - timedelta(days=1), END, "1h"),
        "inputs": input_frames(inputs),
        "frame": training_frame(db, "EURUSD", DAY, END),
        "online": [vector_at(db, "EURUSD", t) for t in (at(5, 59), at(7, 29), at(11, 59))],
        "asof": [macro_asof(db, "VIXCLS", t) for t in (at(-2), at(6))],
    }


def input_frames(inputs: Inputs) -> tuple[pd.DataFrame, ...]:
    """The inputs' arrays as frames: the bars with their times, each kind of fact."""
    facts = (inputs.scores, inputs.macro, inputs.regimes)
    return (pd.DataFrame({"time": inputs.times, **inputs.bars}),
            *(pd.DataFrame(dict(enumerate(columns))) for columns in facts))


def in_order(facts: pd.DataFrame) -> pd.DataFrame:
    """Facts come in no particular order (the features sort them): compare them sorted."""
    return facts.sort_values(list(facts.columns)).reset_index(drop=True)


def assert_same_reads(before: dict, after: dict) -> None:
    pd.testing.assert_frame_equal(after["bars"], before["bars"])
    pd.testing.assert_frame_equal(after["bars_1h"], before["bars_1h"])
    for a, b in zip(after["inputs"], before["inputs"], strict=True):
        pd.testing.assert_frame_equal(in_order(a), in_order(b))
    pd.testing.assert_frame_equal(after["frame"], before["frame"])
    assert after["online"] == before["online"] and after["asof"] == before["asof"]


def test_the_policy_compresses_old_chunks_and_every_read_stays_the_same(
        timescale: Database) -> None:
    db = timescale
    backfill_bars(db, ["EURUSD"], DAY - timedelta(days=2), END, seed=5)
    facts(db)
    before = reads(db)
    assert len(before["frame"]) > 600 and all(before["online"]) and before["asof"][1]
    assert not any(c[2] for t in FACTS for c in chunks(db, t))

    run_jobs(db, "policy_compression", list(FACTS))

    for table in FACTS:  # every chunk is months past its table's columnstore window
        assert chunks(db, table) and all(c[2] for c in chunks(db, table)), table
    assert_same_reads(before, reads(db))


def write_into_the_columnstore(db: Database, minute: int) -> None:
    """The same writes on either backend; TimescaleDB's old chunks are compressed first."""
    month = bar_frame(36 * 1440, start=DAY - timedelta(days=36), close=1.1)
    both = pd.concat([month, month.assign(symbol="GBPUSD", close=1.25, high=1.251,
                                          low=1.249, open=1.25)], ignore_index=True)
    upsert(db, OHLCV, both, source="test")
    if db.is_timescale:
        run_jobs(db, "policy_compression", ["ohlcv"])
        spans = chunks(db, "ohlcv")  # 7-day chunks (revision 0012), all of them compressed
        assert len(spans) >= 6 and all(c[2] and c[1] - c[0] == timedelta(days=7) for c in spans)
    # A backfill rerun over the whole compressed month (103,680 rows deleted and rewritten).
    # (prices on their grid: bars store them as integers, and refuse 1.1 + 0.0005's tail)
    rerun = both.assign(close=(both["close"] + 0.0005).round(10),
                        high=(both["high"] + 0.0005).round(10))
    replace_window(db, OHLCV, rerun, start=DAY - timedelta(days=36), end=DAY, source="test",
                   only={"symbol": ["EURUSD", "GBPUSD"]})  # as a backfill of its symbols
    if db.is_timescale:
        run_jobs(db, "policy_compression", ["ohlcv"])
    # One compressed day rewritten with another market (a second backfill source).
    backfill_bars(db, ["EURUSD"], DAY - timedelta(days=7), DAY - timedelta(days=6), seed=11)
    # Upserts into compressed chunks: a correction of every bar of the month (beyond
    # TimescaleDB's default limit of 100,000 rows decompressed by one DML transaction), and
    # new keys.
    upsert(db, OHLCV, rerun.assign(close=(rerun["close"] - 0.0002).round(10), source="fix"),
           source="fix")
    upsert(db, OHLCV, bar_frame(30, symbol="USDJPY", start=DAY - timedelta(days=20),
                                close=151.2), source="fix")
    # The streamer writes the open minute of today while the old chunks stay compressed.
    sink = Sink(StreamDatabase(db.dsn), source="mt5", symbols=["EURUSD", "GBPUSD"])
    try:
        for version in range(2):  # a provisional bar, then its final version
            sink.write(WriteBatch(
                ticks=[TickRow("EURUSD", minute + 1000 * i + version * 30_000_000, i, 1.1,
                               1.1001, minute * 1000) for i in range(3)],
                bars=[BarRow("EURUSD", minute, 1.1, 1.1002, 1.0999, 1.1001 + version * 1e-4,
                             3 + version, 0.0001)]))
    finally:
        sink.db.close()


def test_writes_into_compressed_chunks_keep_the_rows_plain_postgres_keeps(
        timescale: Database, plain: Database) -> None:
    minute = int(datetime.now(UTC).timestamp()) // 60 * 60 * 1_000_000  # open: today's chunk
    for db in (timescale, plain):
        write_into_the_columnstore(db, minute)
    for table in ("ohlcv", "ticks"):
        assert table_checksum(timescale, table) == table_checksum(plain, table), table
    rows, _ = table_checksum(timescale, "ohlcv")
    assert rows == 2 * 36 * 1440 + 30 + 1  # the month (keys upserted again), USDJPY, today
    month = [c for c in chunks(timescale, "ohlcv") if c[0] < DAY]
    assert all(c[2] for c in month)  # rewritten, still columnstore chunks (partly in rowstore)
    # The policy recompresses what the writes left in the rowstore: still the same rows.
    run_jobs(timescale, "policy_compression", ["ohlcv"])
    assert table_checksum(timescale, "ohlcv") == table_checksum(plain, "ohlcv")


@pytest.fixture
def packs(redis_prefix: str) -> BarPacks:
    packs = BarPacks.from_url(REDIS_URL, prefix=f"{redis_prefix}:tsdb_packs")
    yield packs
    delete_keys(REDIS_URL, packs.prefix)
    packs.client.close()


def test_bar_packs_of_columnstore_days_are_read_from_the_table(timescale: Database,
                                                               packs: BarPacks) -> None:
    db, start, end = timescale, DAY - timedelta(days=1), DAY + timedelta(days=1)
    backfill_bars(db, ["EURUSD"], start, end, seed=7)
    rowstore = packs.bars(db, "EURUSD", start, end)
    assert packs.bars(db, "EURUSD", start, end).equals(rowstore)
    assert dict(packs.stats) == {"miss": 2, "hit": 2}

    run_jobs(db, "policy_compression", ["ohlcv"])
    assert all(c[2] for c in chunks(db, "ohlcv"))
    columnstore = packs.bars(db, "EURUSD", start, end)
    # Compressed chunks have no xmin to check a pack against: the fallback path, the table.
    assert dict(packs.stats) == {"miss": 2, "hit": 2, "uncheckable": 1}
    pd.testing.assert_frame_equal(columnstore, rowstore)
    pd.testing.assert_frame_equal(columnstore, bars(db, "EURUSD", start, end))
    assert np.isfinite(columnstore["close"]).all() and len(columnstore) > 1000


def test_bar_packs_of_rowstore_days_keep_serving_beside_compressed_chunks(
        timescale: Database, packs: BarPacks) -> None:
    # a week apart: in two chunks of 7 days (revision 0012)
    db, old, new = timescale, DAY - timedelta(days=7), DAY
    for day in (old, new):
        backfill_bars(db, ["EURUSD"], day, day + timedelta(days=1), seed=8)
    with db.connection() as conn, conn.transaction():
        conn.execute("SELECT compress_chunk(c) FROM show_chunks('underdog.ohlcv',"
                     " older_than => %s::timestamptz) c", (new,))
    assert [c[2] for c in chunks(db, "ohlcv")] == [True, False]
    expected = bars(db, "EURUSD", new, new + timedelta(days=1))
    for _ in range(12):  # past the 5 custom plans after which PostgreSQL may plan generically
        got = packs.bars(db, "EURUSD", new, new + timedelta(days=1))
        pd.testing.assert_frame_equal(got, expected)
    assert dict(packs.stats) == {"miss": 1, "hit": 11}
    pd.testing.assert_frame_equal(packs.bars(db, "EURUSD", old, new), bars(db, "EURUSD", old, new))
    assert packs.stats["uncheckable"] == 1

"""The database side of the writer: one connection, one transaction per batch.

A batch's ticks, bars, quotes and dead letters are written in one transaction, so a batch is
all in or all out (and one commit, one WAL flush, per batch). The statements live in
`underdog.store.offline.stream_batches`: bars and quotes are staged (a binary COPY into a
temporary table) and merged with the tables' one upsert (`writers.merge_statement`, as
`writers.upsert` does); dead letters go through `underdog.store.offline.dead_letters`.
Ticks are new by construction (their key's `seq` counts ticks of the same time), so they
are copied straight into `ticks`, a third cheaper; a batch that meets a key already there
(the replay of a batch committed just before the connection died, or a hot standby's
batch whose ticks the other streamer stored first) is written again with its ticks staged
and inserted where their key is new: the first writer's row stays, with the earliest
receipt time, and a standby never alters a stored tick. A bar of the stream's own source
is replaced only by one of as many ticks or more, so the open minute's row never shrinks
when two standbys upsert it. What all of it leaves out is
`validate()` and pandas: every tick was checked on the receive path by the same rules
(`checks.TickChecker`, held to `underdog.store.offline.validation` by a test), bars come from
`bars_from_ticks` over those ticks and quotes from those ticks, and `validate()` with its
frames costs 5-13 ms a call whatever the batch size (2-core machine, idle to loaded): a
tenth of a 100 ms budget spent 40 times a second, for checks already made. Staged rows carry
times as integer microseconds and SQL turns them into timestamps exactly.

`strict=True` writes every part through `writers.upsert` instead (validated, rejects to
`dead_letters`), in its own transactions. A batch the fast path cannot write for another
reason than an unreachable server (a bug upstream) is retried that way too, so bad rows end
in `dead_letters`.

An unreachable server (refused, reset, timed out) raises `DatabaseDown`; the writer spools
the whole batch (replaying it is harmless even if it was committed after all).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import psycopg
import psycopg.errors
from psycopg.types.json import Jsonb

from underdog.reference.instruments import INSTRUMENTS
from underdog.store.db import Database
from underdog.store.offline import dead_letters, stream_batches
from underdog.store.offline.decimals import POW10_PY, scale_of
from underdog.store.offline.readers import latest_on
from underdog.store.offline.writers import upsert
from underdog.store.tables import OHLCV, QUOTES, TICKS
from underdog_streaming.batcher import BarRow, QuoteRow, TickRow, WriteBatch

# What "the database is not there" looks like from the client.
UNREACHABLE = (psycopg.OperationalError, psycopg.InterfaceError, OSError)


class DatabaseDown(RuntimeError):
    def __init__(self, batch: WriteBatch) -> None:
        super().__init__("PostgreSQL is unreachable")
        self.batch = batch


class StreamDatabase(Database):
    """A `Database` on one direct connection, for the writer thread alone.

    The pool of `Database` waits up to 30 s for a connection when the server is down; this
    fails within `connect_timeout_s`, and TCP keepalives and a user timeout bound a write on a
    connection that died silently, so the spool takes over within seconds. No reader pool:
    nothing reads through it. (It does not call `Database.__init__`, which needs the server up.)
    """

    def __init__(self, dsn: str, *, connect_timeout_s: int = 2) -> None:
        self.dsn = dsn
        self.reader_role = ""
        self.connect_timeout_s = connect_timeout_s
        self._conn: psycopg.Connection | None = None

    def open(self) -> StreamDatabase:
        return self

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self.close()
            self._conn = psycopg.connect(
                self.dsn, autocommit=True, connect_timeout=self.connect_timeout_s,
                keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=2,
                tcp_user_timeout=5000,
            )
        try:
            yield self._conn
        except UNREACHABLE:
            self.close()
            raise

    @contextmanager
    def reader(self) -> Iterator[psycopg.Connection]:
        raise NotImplementedError("StreamDatabase is write-only")
        yield  # pragma: no cover


class Sink:
    def __init__(self, db: StreamDatabase, *, source: str, symbols: Collection[str],
                 strict: bool = False) -> None:
        self.db = db
        self.source = source
        self.symbols = list(symbols)
        self.strict = strict
        self._staged_on: psycopg.Connection | None = None  # temp tables live per session

    def write(self, batch: WriteBatch) -> None:
        """Write the whole batch, or raise `DatabaseDown` having written none of it."""
        try:
            if self.strict:
                self._write_validated(batch)
                return
            try:
                self._write_fast(batch)
            except psycopg.errors.UniqueViolation:  # a replay of a committed batch
                self._write_fast(batch, upsert_ticks=True)
            except UNREACHABLE:
                raise
            except psycopg.Error:
                self._write_validated(batch)
        except UNREACHABLE as exc:
            raise DatabaseDown(batch) from exc

    def reachable(self) -> bool:
        try:
            self.db.ping()
            return True
        except UNREACHABLE:
            return False

    def latest(self, kind: str, symbol: str, source: str | None = None) -> dict | None:
        """The table's newest row of a cached kind (`LatestCache.refresh`'s loader)."""
        with self.db.connection() as conn:
            return latest_on(conn, kind, symbol, source)

    def minute_ticks(self, symbol: str, start_us: int) -> tuple[list, list, list] | None:
        """The ticks of one minute already in `ticks` (the roller's seed); None if unknown."""
        try:
            with self.db.connection() as conn:
                return stream_batches.minute_ticks(conn, symbol, start_us)
        except (*UNREACHABLE, psycopg.Error):
            return None

    # ------------------------------------------------------------ the fast path

    def _write_fast(self, batch: WriteBatch, *, upsert_ticks: bool = False) -> None:
        ticks = [stored_tick(r) for r in unique(batch.ticks, 3)]
        if None in ticks:  # a price no scale carries exactly: the validated path refuses it
            raise psycopg.DataError("a tick price has too many decimals")
        bars = [stored_bar(r) for r in unique(batch.bars, 2)]
        if None in bars:  # cannot be from checked ticks; the validated path names the bar
            raise psycopg.DataError("a bar price has too many decimals")
        staged = {
            "ticks": [(s, t, q, ps, b, a, lag) for s, t, q, ps, b, a, lag in ticks]
            if upsert_ticks else [],
            "bars": bars,
            "quotes": [(q.symbol, q.time_us, q.bid, q.ask, None if q.depth is None
                        else Jsonb(q.depth), q.available_us) for q in unique(batch.quotes, 2)],
        }
        with self.db.connection() as conn:
            if conn is not self._staged_on:  # outside the batch: a rollback must not undo it
                stream_batches.create_stages(conn)
                self._staged_on = conn
            with conn.transaction(), conn.cursor() as cur:
                if ticks and not upsert_ticks:
                    stream_batches.copy_new_ticks(cur, ticks)
                for part, rows in staged.items():
                    if rows:
                        stream_batches.stage_and_merge(cur, part, rows, source=self.source)
                if batch.dead:
                    dead_letters.copy_into(cur, batch.dead)

    # ------------------------------------------------------------ the validated path

    def _write_validated(self, batch: WriteBatch) -> None:
        def put(table, frame) -> None:
            upsert(self.db, table, frame, source=self.source, symbols=self.symbols)

        if batch.ticks:
            put(TICKS, tick_frame(list(unique(batch.ticks, 3))))
        if batch.bars:
            put(OHLCV, bar_frame(list(unique(batch.bars, 2)), self.source))
        if batch.quotes:
            put(QUOTES, quote_frame(list(unique(batch.quotes, 2))))
        if batch.dead:
            dead_letters.write(self.db, batch.dead)


def stored_tick(r: TickRow) -> tuple | None:
    """The tick in its stored form (symbol, time_us, seq, price_scale, bid_units, ask_units,
    lag_us); None when no scale gives bid or ask back exactly (underdog.store.offline.decimals)."""
    instrument = INSTRUMENTS.get(r.symbol)
    floor = instrument.digits if instrument else 0
    bid_scale, ask_scale = scale_of(r.bid, floor), scale_of(r.ask, floor)
    if bid_scale is None or ask_scale is None:
        return None
    scale = max(bid_scale, ask_scale)
    return (r.symbol, r.time_us, r.seq, scale, round(r.bid * POW10_PY[scale]),
            round(r.ask * POW10_PY[scale]), r.recv_ns // 1000 - r.time_us)


def stored_bar(r: BarRow) -> tuple | None:
    """The bar in its stored form (symbol, time_us, price_scale, open_units .. close_units,
    volume, spread); None when no scale gives a price back exactly."""
    instrument = INSTRUMENTS.get(r.symbol)
    floor = instrument.digits if instrument else 0
    prices = (r.open, r.high, r.low, r.close)
    scales = [scale_of(p, floor) for p in prices]
    if None in scales:
        return None
    scale = max(scales)
    return (r.symbol, r.time_us, scale, *(round(p * POW10_PY[scale]) for p in prices),
            r.volume, r.spread)


def unique(rows: list, key_fields: int) -> list:
    """Rows with unique keys (their first `key_fields` fields), the last of a repeat winning:
    one INSERT .. ON CONFLICT cannot touch a row twice, and a merged spool replay or a
    provisional bar followed by its final version repeats keys."""
    keyed = {tuple(r[:key_fields]): r for r in rows}
    return rows if len(keyed) == len(rows) else list(keyed.values())


def _utc(micros: list[int] | np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(np.asarray(micros, dtype=np.int64), unit="us", utc=True))


def tick_frame(rows: list[TickRow]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(TickRow._fields))
    frame["time"] = _utc(frame["time_us"])
    frame["available_at"] = _utc(frame["recv_ns"] // 1000)
    frame["bid_volume"] = frame["ask_volume"] = np.nan
    return frame[TICKS.column_names]


def bar_frame(rows: list[BarRow], source: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(BarRow._fields))
    frame["time"] = _utc(frame["time_us"])
    frame["source"] = source
    return frame[OHLCV.column_names]


def quote_frame(rows: list[QuoteRow]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(QuoteRow._fields))
    frame["time"] = _utc(frame["time_us"])
    frame["available_at"] = _utc(frame["available_us"])
    frame["spread"] = frame["ask"] - frame["bid"]
    return frame[QUOTES.column_names]

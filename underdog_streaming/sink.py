"""The database side of the writer: one connection, one transaction per batch.

A batch's ticks, bars, quotes and dead letters are written in one transaction, so a batch is
all in or all out (and one commit, one WAL flush, per batch). Bars and quotes follow the
staging pattern of `writers.upsert`: a binary COPY into a temporary table, then one INSERT ..
ON CONFLICT (key) DO UPDATE. Ticks are new by construction (their key's `seq` counts ticks of
the same time), so they are copied straight into `ticks`, a third cheaper; a batch that
meets a key already there (the replay of a batch committed just before the connection died,
or a hot standby's batch whose ticks the other streamer stored first) is written again with
its ticks staged and inserted where their key is new: the first writer's row stays, with the
earliest receipt time, and a standby never alters a stored tick. A bar of the stream's own
source is replaced only by one of as many ticks or more, so the open minute's row never
shrinks when two standbys upsert it. What all of it leaves out is
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
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
import psycopg.errors
from psycopg.types.json import Jsonb

from underdog.market.instruments import INSTRUMENTS
from underdog.schema import BAR_US
from underdog.store.db import Database
from underdog.store.offline.decimals import POW10_PY, scale_of
from underdog.store.offline.readers import latest_on
from underdog.store.offline.writers import upsert
from underdog.store.tables import OHLCV, QUOTES, TICKS
from underdog_streaming.batcher import BarRow, DeadRow, QuoteRow, TickRow, WriteBatch

# Ticks in their stored form (underdog.store.offline.tick_storage); bid_volume_units and
# ask_volume_units stay NULL (MT5 sends no volumes).
TICK_COPY = ("COPY underdog.ticks (symbol, time, seq, price_scale, bid_units, ask_units,"
             " volume_scale, available_lag_us) FROM STDIN (FORMAT BINARY)")
TICK_TYPES = ["text", "timestamptz", "int8", "int2", "int8", "int8", "int2", "int8"]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# What "the database is not there" looks like from the client.
UNREACHABLE = (psycopg.OperationalError, psycopg.InterfaceError, OSError)
_AT = "'epoch'::timestamptz + {} * interval '1 microsecond'"  # exact, unlike to_timestamp()


def _stage(name: str, columns: str, types: list[str], merge: str) -> dict[str, object]:
    return {"ddl": f"CREATE TEMP TABLE IF NOT EXISTS {name} ({columns}) ON COMMIT DELETE ROWS",
            "copy": f"COPY {name} FROM STDIN (FORMAT BINARY)", "types": types, "merge": merge}


STAGES = {
    "ticks": _stage(
        "stream_stage_ticks",
        "symbol text, time_us int8, seq int8, price_scale int2, bid_units int8,"
        " ask_units int8, lag_us int8",
        ["text", "int8", "int8", "int2", "int8", "int8", "int8"],
        "INSERT INTO underdog.ticks (symbol, time, seq, price_scale, bid_units, ask_units,"
        " volume_scale, bid_volume_units, ask_volume_units, available_lag_us)"
        f" SELECT symbol, {_AT.format('time_us')}, seq, price_scale, bid_units, ask_units, 0,"
        " NULL, NULL, lag_us FROM stream_stage_ticks ON CONFLICT (symbol, time, seq)"
        " DO NOTHING"),
    "bars": _stage(
        "stream_stage_bars",
        "symbol text, time_us int8, open float8, high float8, low float8, close float8,"
        " volume int8, spread float8",
        ["text", "int8", "float8", "float8", "float8", "float8", "int8", "float8"],
        "INSERT INTO underdog.ohlcv AS o (symbol, time, open, high, low, close, volume,"
        f" spread, source) SELECT symbol, {_AT.format('time_us')}, open, high, low, close,"
        " volume, spread, %(source)s FROM stream_stage_bars ON CONFLICT (symbol, time) DO"
        " UPDATE SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close ="
        " EXCLUDED.close, volume = EXCLUDED.volume, spread = EXCLUDED.spread, source ="
        " EXCLUDED.source"
        # A minute's ticks only accumulate: from the same source a bar of fewer ticks is an
        # older view of it (a hot standby behind the other, or one that joined mid-minute).
        " WHERE o.source IS DISTINCT FROM EXCLUDED.source"
        " OR EXCLUDED.volume >= coalesce(o.volume, 0)"),
    "quotes": _stage(
        "stream_stage_quotes",
        "symbol text, time_us int8, bid float8, ask float8, depth jsonb, available_us int8",
        ["text", "int8", "float8", "float8", "jsonb", "int8"],
        "INSERT INTO underdog.quotes (symbol, time, bid, ask, spread, depth, available_at)"
        f" SELECT symbol, {_AT.format('time_us')}, bid, ask, ask - bid, depth,"
        f" {_AT.format('available_us')} FROM stream_stage_quotes ON CONFLICT (symbol, time)"
        " DO UPDATE SET bid = EXCLUDED.bid, ask = EXCLUDED.ask, spread = EXCLUDED.spread,"
        " depth = EXCLUDED.depth, available_at = EXCLUDED.available_at"),
}


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
            with self.db.connection() as conn:
                conn.execute("SELECT 1")
            return True
        except UNREACHABLE:
            return False

    def latest(self, kind: str, symbol: str, source: str | None = None) -> dict | None:
        """The table's newest row of a cached kind (`LatestCache.refresh`'s loader)."""
        with self.db.connection() as conn:
            return latest_on(conn, kind, symbol, source)

    def minute_ticks(self, symbol: str, start_us: int) -> tuple[list, list, list] | None:
        """The ticks of one minute already in `ticks` (the roller's seed); None if unknown."""
        query = ("SELECT (extract(epoch FROM time) * 1000000)::bigint, bid, ask"
                 " FROM underdog.tick_values WHERE symbol = %s"
                 f" AND time >= {_AT.format('%s::int8')} AND time < {_AT.format('%s::int8')}"
                 " ORDER BY time, seq")
        try:
            with self.db.connection() as conn:
                rows = conn.execute(query, (symbol, start_us, start_us + BAR_US)).fetchall()
        except (*UNREACHABLE, psycopg.Error):
            return None
        return ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])

    # ------------------------------------------------------------ the fast path

    def _write_fast(self, batch: WriteBatch, *, upsert_ticks: bool = False) -> None:
        ticks = [stored_tick(r) for r in unique(batch.ticks, 3)]
        if None in ticks:  # a price no scale carries exactly: the validated path refuses it
            raise psycopg.DataError("a tick price has too many decimals")
        staged = {
            "ticks": [(s, t, q, ps, b, a, lag) for s, t, q, ps, b, a, lag in ticks]
            if upsert_ticks else [],
            "bars": unique(batch.bars, 2),
            "quotes": [(q.symbol, q.time_us, q.bid, q.ask, None if q.depth is None
                        else Jsonb(q.depth), q.available_us) for q in unique(batch.quotes, 2)],
        }
        with self.db.connection() as conn:
            if conn is not self._staged_on:  # outside the batch: a rollback must not undo it
                for stage in STAGES.values():
                    conn.execute(stage["ddl"])
                self._staged_on = conn
            with conn.transaction(), conn.cursor() as cur:
                if ticks and not upsert_ticks:
                    self._copy_ticks(cur, ticks)
                for part, rows in staged.items():
                    if rows:
                        self._stage_and_merge(cur, STAGES[part], rows)
                if batch.dead:
                    self._dead_letters(cur, batch.dead)

    def _stage_and_merge(self, cur: psycopg.Cursor, stage: dict, rows: list) -> None:
        with cur.copy(stage["copy"]) as copy:
            copy.set_types(stage["types"])
            for row in rows:
                copy.write_row(row)
        cur.execute(stage["merge"], {"source": self.source})

    def _copy_ticks(self, cur: psycopg.Cursor, rows: list[tuple]) -> None:
        """New ticks go straight in: a third cheaper than staging them. A key already there
        (a replayed batch) raises UniqueViolation, and the batch is written again with the
        ticks staged and upserted."""
        with cur.copy(TICK_COPY) as copy:
            copy.set_types(TICK_TYPES)
            for symbol, time_us, seq, scale, bid, ask, lag in rows:
                copy.write_row((symbol, EPOCH + timedelta(microseconds=time_us), seq, scale,
                                bid, ask, 0, lag))

    def _dead_letters(self, cur: psycopg.Cursor, rows: list[DeadRow]) -> None:
        with cur.copy("COPY underdog.dead_letters (source, target_table, reason, payload)"
                      " FROM STDIN") as copy:
            for row in rows:
                copy.write_row((row.source, row.target_table, row.reason, Jsonb(row.payload)))

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
            with self.db.connection() as conn, conn.transaction(), conn.cursor() as cur:
                self._dead_letters(cur, batch.dead)


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

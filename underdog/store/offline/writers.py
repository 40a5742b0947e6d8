"""Writers: every batch is validated, written whole or not at all, and its rejects kept.

- `replace_window`: a backfill partition. DELETE the window, binary COPY the rows, insert the
  dead letters, all in one transaction: rerunning gives the same rows, and a failure midway
  leaves the window exactly as it was. A window still open at the write moment (today's
  partition) is replaced only up to the last row written: rows after it (what the streamer
  wrote meanwhile) are not deleted, and no row after `now` is written (validation).
  With `streams` > 1 a window of several UTC days is cut into contiguous windows of whole
  days (2 per stream, about as many rows each), each written as one such transaction,
  `streams` at once on their own connections (as timescaledb-parallel-copy does): each of
  those windows is replaced whole or not at all; after a failure in one, the windows before
  it stay replaced and no further one starts (rerun the window: it is idempotent). On
  TimescaleDB each window's chunks are made first, in a transaction of their own, so the
  streams never wait for each other.
- `upsert`: a streaming micro-batch. Binary COPY into a temporary staging table, then
  INSERT .. ON CONFLICT (key) DO UPDATE, in one transaction.

Tables stored encoded (ticks and bars, see underdog.store.offline.tick_storage and
bar_storage) are validated on their values, then encoded; a value the encoding cannot carry
exactly is a dead letter.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from underdog.store.db import Database
from underdog.store.offline import dead_letters
from underdog.store.offline.bar_storage import encode_bars
from underdog.store.offline.copy_binary import encode_chunks
from underdog.store.offline.tick_storage import encode_ticks
from underdog.store.offline.validation import Checked, json_safe, validate, write_moment
from underdog.store.tables import OHLCV, TICKS, Table

ENCODERS = {TICKS.name: encode_ticks, OHLCV.name: encode_bars}

COPY_ROWS = 1 << 16  # rows per encoded piece written to the COPY stream (~4.5 MiB of bars)
# replace_window(streams=n) writes n * this many windows, n at a time: the next window's
# chunks are made while the first ones are written (see _replace_in_streams).
WINDOWS_PER_STREAM = 2


@dataclass
class WriteResult:
    table: str
    written: int
    rejected: int
    deleted: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    replaced_until: datetime | None = None  # replace_window: the end of what it replaced


def no_rows(table: Table) -> pd.DataFrame:
    """The table's columns and no rows: `replace_window` with it empties the window."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in table.column_names})


def _copy(cur: psycopg.Cursor, target: sql.Composable, table: Table, rows: pd.DataFrame) -> None:
    """COPY `rows` (stored form) into the table's stored columns."""
    columns = table.stored_columns
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        target, sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    )
    with cur.copy(statement) as copy:
        # Each piece goes out as soon as it is encoded: the server parses while we encode.
        for piece in encode_chunks(rows, columns, rows_per_chunk=COPY_ROWS):
            copy.write(piece)


def _stored(checked: Checked, table: Table) -> tuple[pd.DataFrame, Checked]:
    """The rows in the table's stored form; rows the encoding refuses join the rejects."""
    encode = ENCODERS.get(table.name)
    if encode is None:
        return checked.good, checked
    stored, reasons = encode(checked.good)
    bad = np.asarray([r is not None for r in reasons], dtype=bool)
    if not bad.any():
        return stored, checked
    refused = pd.DataFrame({
        "reason": reasons[bad].astype(str),
        "payload": [json_safe(r) for r in checked.good[bad].to_dict("records")],
    })
    rejected = pd.concat([checked.rejected, refused], ignore_index=True)
    return (stored[~bad].reset_index(drop=True),
            Checked(checked.good[~bad].reset_index(drop=True), rejected))


def _dead_letters(cur: psycopg.Cursor, checked: Checked, *, source: str, table: Table) -> None:
    if checked.rejected.empty:
        return
    dead_letters.copy_into(cur, ((source, table.name, reason, payload)
                                 for reason, payload in checked.rejected.itertuples(index=False)))


def _unlimited_decompression(db: Database, cur: psycopg.Cursor) -> None:
    """TimescaleDB stops a DML transaction that decompresses more than 100,000 columnstore
    rows (a guard for ad-hoc statements); a backfill rewriting a month of bars, or an upsert
    correcting a compressed day, must go through whole."""
    if db.is_timescale:
        cur.execute("SET LOCAL timescaledb.max_tuples_decompressed_per_dml_transaction = 0")


def _identifier(table: Table) -> sql.Composable:
    return sql.Identifier(*table.qualified.split("."))


def replace_window(
    db: Database,
    table: Table,
    rows: pd.DataFrame,
    *,
    start: datetime,
    end: datetime,
    source: str,
    only: Mapping[str, Sequence[str]] | None = None,
    symbols: Collection[str] | None = None,
    streams: int = 1,
    now: datetime | None = None,
) -> WriteResult:
    """Make [start, end) hold exactly the valid `rows` (restricted to `only`, e.g. symbols).

    `streams` > 1: that many transactions at once, each over contiguous whole UTC days
    (`stream_windows`; see the module docstring).
    `now` is the write moment (default: the clock). When `end` is after it, the window
    replaced ends, for each symbol (series), just past its last row written (at `start` when
    it has none): the streamer's rows after it are kept.
    """
    if streams < 1:
        raise ValueError(f"streams must be >= 1, not {streams}")
    now = write_moment(now)
    checked = validate(rows, table, window=(start, end), symbols=symbols, now=now)
    ends = open_window_ends(checked.good, table, start, end, now)
    end = open_window_end(checked.good, start, end, now)
    for column, allowed in (only or {}).items():
        stray = ~checked.good[column].isin(list(allowed))
        if stray.any():
            raise ValueError(f"{table.name}: rows with {column} outside {list(allowed)}")
    stored, checked = _stored(checked, table)
    windows = [(start, end)]
    if streams > 1:  # the rows' times only where they are cut into windows
        times = _row_times(stored)
        windows = stream_windows(_days(start, end), times, streams * WINDOWS_PER_STREAM)
    if len(windows) == 1:
        with db.connection() as conn, conn.transaction(), conn.cursor() as cur:
            deleted = _replace(db, cur, table, stored, start, end, only, ends)
            _dead_letters(cur, checked, source=source, table=table)
    else:
        deleted = _replace_in_streams(db, table, stored, times, windows, only, ends, streams)
        with db.connection() as conn, conn.transaction(), conn.cursor() as cur:
            _dead_letters(cur, checked, source=source, table=table)
    return WriteResult(table.name, len(stored), len(checked.rejected), deleted,
                       checked.reasons, end)


def open_window_end(good: pd.DataFrame, start: datetime, end: datetime,
                    now: datetime) -> datetime:
    """Where the replaced window ends: `end`, or for a window still open at `now`, just
    past the last row written, so the window never deletes a row it does not rewrite."""
    if end <= now:
        return end
    if good.empty:
        return start
    return min(end, good["time"].max().to_pydatetime() + timedelta(microseconds=1))


def open_window_ends(good: pd.DataFrame, table: Table, start: datetime, end: datetime,
                     now: datetime) -> dict[str, datetime] | None:
    """For a window still open at `now`, where it ends for each entity (the key's first
    column: symbol, series): just past that entity's last row written. None: closed."""
    if end <= now:
        return None
    last = good.groupby(table.key[0])["time"].max()
    return {name: min(end, t.to_pydatetime() + timedelta(microseconds=1))
            for name, t in last.items()}


def _replace(db: Database, cur: psycopg.Cursor, table: Table, stored: pd.DataFrame,
             start: datetime, end: datetime, only: Mapping[str, Sequence[str]] | None,
             ends: dict[str, datetime] | None = None) -> int:
    """DELETE [start, end) (restricted to `only`, and to `ends` per entity: an entity with
    no end keeps its rows) and COPY `stored` in: rows deleted."""
    _unlimited_decompression(db, cur)
    condition = sql.SQL("time >= %s AND time < %s")
    params: list[object] = [start, end]
    for column, allowed in (only or {}).items():
        condition += sql.SQL(" AND {} = ANY(%s)").format(sql.Identifier(column))
        params.append(list(allowed))
    if ends is not None:
        condition += sql.SQL(
            " AND time < COALESCE((SELECT e.until FROM unnest(%s::text[], %s::timestamptz[])"
            " AS e(entity, until) WHERE e.entity = {}), %s)").format(
                sql.Identifier(table.key[0]))
        params += [list(ends), list(ends.values()), start]
    cur.execute(sql.SQL("DELETE FROM {} WHERE ").format(_identifier(table)) + condition, params)
    deleted = cur.rowcount
    _copy(cur, _identifier(table), table, stored)
    return deleted


def _days(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at UTC midnights."""
    cuts = [start]
    midnight = pd.Timestamp(start).tz_convert("UTC").floor("D").to_pydatetime()
    while (midnight := midnight + timedelta(days=1)) < end:
        cuts.append(midnight)
    cuts.append(end)
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def _micros(times: pd.Series) -> np.ndarray:
    """tz-aware times (validated) in Unix microseconds, as COPY writes them."""
    if times.empty:
        return np.empty(0, dtype=np.int64)
    return pd.DatetimeIndex(times).tz_convert("UTC").as_unit("us").asi8


def _row_times(stored: pd.DataFrame) -> np.ndarray:
    return _micros(stored["time"])


def stream_windows(days: list[tuple[datetime, datetime]], times: np.ndarray,
                   count: int) -> list[tuple[datetime, datetime]]:
    """The days cut into at most `count` contiguous windows of whole days, each holding
    about as many of the rows (at Unix-microsecond `times`) as the others, so the streams
    finish together."""
    bounds = pd.DatetimeIndex([hi for _, hi in days]).as_unit("us").asi8
    weight = np.bincount(np.searchsorted(bounds, times, side="right"), minlength=len(days))
    total = np.cumsum(weight[: len(days)] + 1)  # + 1: an empty day still has a DELETE
    share = total[-1] * np.arange(1, count) / count
    after = np.searchsorted(total, share)  # the first day whose running total reaches it
    before = np.maximum(after - 1, 0)
    nearer = np.where(share - total[before] < total[after] - share, before, after)
    cuts = np.unique(np.clip(nearer + 1, 1, len(days) - 1))  # cut after the nearer day
    edges = [0, *cuts.tolist(), len(days)]
    return [(days[a][0], days[b - 1][1]) for a, b in zip(edges[:-1], edges[1:], strict=True)
            if b > a]


def _replace_in_streams(db: Database, table: Table, stored: pd.DataFrame, times: np.ndarray,
                        windows: list[tuple[datetime, datetime]],
                        only: Mapping[str, Sequence[str]] | None,
                        ends: dict[str, datetime] | None, streams: int) -> int:
    """One DELETE + COPY transaction per window, `streams` at once on their own connections:
    rows deleted. Each window's chunks are made (`create_chunks`) just before it starts,
    while the windows before it are written: making a chunk waits on disk (two index files
    fsynced), writing rows on the CPU, so the two overlap. After a failure no further window
    starts; it is raised once the windows under way have committed or failed. `times`: the
    rows' times in Unix microseconds."""
    lows = pd.DatetimeIndex([lo for lo, _ in windows[1:]]).as_unit("us").asi8
    window_of_row = np.searchsorted(lows, times, side="right")

    def one(rows: pd.DataFrame, window: tuple[datetime, datetime]) -> int:
        with db.connection() as conn, conn.transaction(), conn.cursor() as cur:
            return _replace(db, cur, table, rows, *window, only, ends)

    started: list[Future[int]] = []
    with ThreadPoolExecutor(max_workers=streams) as pool:
        for i, window in enumerate(windows):
            if any(f.done() and f.exception() for f in started):
                break
            rows = stored.iloc[np.flatnonzero(window_of_row == i)]
            create_chunks(db, table, rows)
            started.append(pool.submit(one, rows, window))
    return sum(f.result() for f in started)  # the first failure, if any


def create_chunks(db: Database, table: Table, stored: pd.DataFrame) -> None:
    """Create, in one short transaction of its own, the TimescaleDB chunks the rows (stored
    form) need; nothing on plain PostgreSQL or a table that is not a hypertable.

    TimescaleDB creates a chunk under a lock on the hypertable that it keeps until the
    creating transaction ends, so two streams that each create chunks take turns: the second
    waits for the first one's commit (bench/ingest.py, 2 streams: 43 % of the samples were
    that wait). One row per missing chunk is copied in, which makes its chunk, and deleted
    again by its key: the chunks stay, the table's rows are as they were. A row another
    writer put at the same key meanwhile stops this (and only this) step: the streams then
    create those chunks themselves, taking turns.
    """
    if stored.empty or not db.is_timescale:
        return
    times = _row_times(stored)
    with db.connection() as conn, conn.transaction(), conn.cursor() as cur:
        if (interval := _chunk_interval_us(cur, table)) is None:
            return
        _, first = np.unique(times // interval, return_index=True)  # a row per chunk
        missing = _chunkless(cur, table, times[first])
        if not missing.size:
            return
        probes = stored.iloc[first[missing]]
        try:
            with conn.transaction():
                _copy(cur, _identifier(table), table, probes)
                _delete_keys(cur, table, probes)
        except psycopg.errors.UniqueViolation:
            pass


def _chunk_interval_us(cur: psycopg.Cursor, table: Table) -> int | None:
    """The time dimension's chunk interval in microseconds (None: not a hypertable)."""
    schema, name = table.qualified.split(".")
    row = cur.execute(
        "SELECT (extract(epoch FROM time_interval) * 1e6)::int8"
        " FROM timescaledb_information.dimensions WHERE hypertable_schema = %s"
        " AND hypertable_name = %s AND column_name = 'time' AND time_interval IS NOT NULL",
        (schema, name)).fetchone()
    return row[0] if row else None


def _chunkless(cur: psycopg.Cursor, table: Table, times: np.ndarray) -> np.ndarray:
    """Positions of the Unix-microsecond `times` (sorted) that no chunk covers yet."""
    schema, name = table.qualified.split(".")
    cur.execute(
        "SELECT (extract(epoch FROM range_start) * 1e6)::int8,"
        " (extract(epoch FROM range_end) * 1e6)::int8 FROM timescaledb_information.chunks"
        " WHERE hypertable_schema = %s AND hypertable_name = %s"
        " AND range_end > timestamptz 'epoch' + %s * interval '1 microsecond'"
        " AND range_start <= timestamptz 'epoch' + %s * interval '1 microsecond'"
        " ORDER BY 1", (schema, name, int(times[0]), int(times[-1])))
    ranges = np.asarray(cur.fetchall(), dtype=np.int64).reshape(-1, 2)
    if not len(ranges):
        return np.arange(len(times))
    before = np.searchsorted(ranges[:, 0], times, side="right") - 1  # the chunk starting last
    covered = (before >= 0) & (times < ranges[np.maximum(before, 0), 1])
    return np.flatnonzero(~covered)


def _delete_keys(cur: psycopg.Cursor, table: Table, rows: pd.DataFrame) -> None:
    """DELETE the rows with exactly these keys (stored form). Times go as the Unix
    microseconds COPY wrote, so a sub-microsecond part cannot make a key miss."""
    types = {c.name: c.pgtype for c in table.stored_columns}
    arrays, values, params = [], [], []
    for i, name in enumerate(table.key):
        column = sql.Identifier(f"k{i}")
        if types[name] == "timestamptz":
            arrays.append(sql.SQL("%s::int8[]"))
            values.append(sql.SQL("timestamptz 'epoch' + {} * interval '1 microsecond'")
                          .format(column))
            params.append(_micros(rows[name]).tolist())
        else:
            arrays.append(sql.SQL("%s::{}[]").format(sql.SQL(types[name])))
            values.append(column)
            params.append(rows[name].tolist())
    cur.execute(sql.SQL(
        "DELETE FROM {} WHERE ({}) IN (SELECT {} FROM unnest({}) AS k({}))").format(
        _identifier(table), sql.SQL(", ").join(map(sql.Identifier, table.key)),
        sql.SQL(", ").join(values), sql.SQL(", ").join(arrays),
        sql.SQL(", ").join(sql.Identifier(f"k{i}") for i in range(len(table.key)))), params)


def upsert(
    db: Database,
    table: Table,
    rows: pd.DataFrame,
    *,
    source: str,
    symbols: Collection[str] | None = None,
    now: datetime | None = None,
) -> WriteResult:
    """Insert or update the valid `rows` by the table's key (`now`: the write moment)."""
    checked = validate(rows, table, symbols=symbols, now=now)
    stored, checked = _stored(checked, table)
    stage = sql.Identifier(f"stage_{table.name}")
    merge = merge_statement(table, stage)
    with db.connection() as conn, conn.transaction(), conn.cursor() as cur:
        _unlimited_decompression(db, cur)
        cur.execute(sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        ).format(stage, _identifier(table)))
        _copy(cur, stage, table, stored)
        cur.execute(merge)
        _dead_letters(cur, checked, source=source, table=table)
    return WriteResult(table.name, len(stored), len(checked.rejected), 0, checked.reasons)


def merge_statement(table: Table, stage: sql.Composable,
                    values: Mapping[str, sql.Composable] | None = None, *,
                    keep_stored: bool = False,
                    replace_if: sql.Composable | None = None) -> sql.Composed:
    """The one upsert of a table from a staging relation: INSERT .. SELECT .. ON CONFLICT
    (key) DO UPDATE of every other stored column. `values` gives the SELECT expression of
    a column whose staged form differs (default: the column of the same name).
    `keep_stored`: a key already there keeps its row (DO NOTHING). `replace_if`: a condition
    on `stored` (the row there) and EXCLUDED that a replacement must meet."""
    names = [c.name for c in table.stored_columns]
    exprs = [(values or {}).get(n, sql.Identifier(n)) for n in names]
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
        for c in names if c not in table.key
    )
    action = sql.SQL("DO NOTHING") if keep_stored else sql.SQL("DO UPDATE SET {}").format(updates)
    if replace_if is not None and not keep_stored:
        action = sql.SQL("{} WHERE {}").format(action, replace_if)
    return sql.SQL(
        "INSERT INTO {target} AS stored ({columns}) SELECT {exprs} FROM {stage} "
        "ON CONFLICT ({key}) {action}"
    ).format(target=_identifier(table), columns=sql.SQL(", ").join(map(sql.Identifier, names)),
             exprs=sql.SQL(", ").join(exprs), stage=stage, action=action,
             key=sql.SQL(", ").join(map(sql.Identifier, table.key)))

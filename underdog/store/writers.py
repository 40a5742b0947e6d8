"""Writers: every batch is validated, written whole or not at all, and its rejects kept.

- `replace_window`: a backfill partition. DELETE the window, binary COPY the rows, insert the
  dead letters, all in one transaction: rerunning gives the same rows, and a failure midway
  leaves the window exactly as it was. A window still open at the write moment (today's
  partition) is replaced only up to the last row written: rows after it (what the streamer
  wrote meanwhile) are not deleted, and no row after `now` is written (validation).
- `upsert`: a streaming micro-batch. Binary COPY into a temporary staging table, then
  INSERT .. ON CONFLICT (key) DO UPDATE, in one transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from underdog.store.copy_binary import encode_chunks
from underdog.store.db import Database
from underdog.store.tables import Table
from underdog.store.validation import Checked, validate, write_moment

COPY_ROWS = 1 << 16  # rows per encoded piece written to the COPY stream (~4.5 MiB of bars)


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
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        target, sql.SQL(", ").join(map(sql.Identifier, table.column_names))
    )
    with cur.copy(statement) as copy:
        # Each piece goes out as soon as it is encoded: the server parses while we encode.
        for piece in encode_chunks(rows, table.columns, rows_per_chunk=COPY_ROWS):
            copy.write(piece)


def _dead_letters(cur: psycopg.Cursor, checked: Checked, *, source: str, table: Table) -> None:
    if checked.rejected.empty:
        return
    with cur.copy(
        "COPY underdog.dead_letters (source, target_table, reason, payload) FROM STDIN"
    ) as copy:
        for reason, payload in checked.rejected.itertuples(index=False):
            copy.write_row((source, table.name, reason, Jsonb(payload)))


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
    now: datetime | None = None,
) -> WriteResult:
    """Make [start, end) hold exactly the valid `rows` (restricted to `only`, e.g. symbols).

    `now` is the write moment (default: the clock). When `end` is after it, the window
    replaced ends just past the last row written (at `start` when there is none).
    """
    now = write_moment(now)
    checked = validate(rows, table, window=(start, end), symbols=symbols, now=now)
    end = open_window_end(checked.good, start, end, now)
    for column, allowed in (only or {}).items():
        stray = ~checked.good[column].isin(list(allowed))
        if stray.any():
            raise ValueError(f"{table.name}: rows with {column} outside {list(allowed)}")
    condition = sql.SQL("time >= %s AND time < %s")
    params: list[object] = [start, end]
    for column, allowed in (only or {}).items():
        condition += sql.SQL(" AND {} = ANY(%s)").format(sql.Identifier(column))
        params.append(list(allowed))
    delete = sql.SQL("DELETE FROM {} WHERE ").format(_identifier(table)) + condition
    with db.connection() as conn, conn.transaction(), conn.cursor() as cur:
        _unlimited_decompression(db, cur)
        cur.execute(delete, params)
        deleted = cur.rowcount
        _copy(cur, _identifier(table), table, checked.good)
        _dead_letters(cur, checked, source=source, table=table)
    return WriteResult(table.name, len(checked.good), len(checked.rejected), deleted,
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
    stage = sql.Identifier(f"stage_{table.name}")
    columns = sql.SQL(", ").join(map(sql.Identifier, table.column_names))
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
        for c in table.column_names if c not in table.key
    )
    merge = sql.SQL(
        "INSERT INTO {target} ({columns}) SELECT {columns} FROM {stage} "
        "ON CONFLICT ({key}) DO UPDATE SET {updates}"
    ).format(target=_identifier(table), columns=columns, stage=stage, updates=updates,
             key=sql.SQL(", ").join(map(sql.Identifier, table.key)))
    with db.connection() as conn, conn.transaction(), conn.cursor() as cur:
        _unlimited_decompression(db, cur)
        cur.execute(sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        ).format(stage, _identifier(table)))
        _copy(cur, stage, table, checked.good)
        cur.execute(merge)
        _dead_letters(cur, checked, source=source, table=table)
    return WriteResult(table.name, len(checked.good), len(checked.rejected), 0, checked.reasons)

"""The streamer's micro-batch statements: ticks, bars and quotes without pandas.

A batch arrives as tuples already checked on the receive path (`underdog_streaming.checks`),
so these skip `validate()` and frames (see `underdog_streaming.sink` for why). Times travel
as integer microseconds since the epoch and SQL turns them into timestamps exactly. Bars and
quotes (and ticks of a replayed batch) are staged in a temporary table and merged with the
tables' one upsert (`writers.merge_statement`); new ticks are copied straight in.
Column lists and types come from the table specs (`underdog.store.tables`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

import psycopg
from psycopg import sql

from underdog.reference.schema import BAR_US
from underdog.store.offline.writers import merge_statement
from underdog.store.tables import OHLCV, QUOTES, TICKS, Table

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_AT = "'epoch'::timestamptz + {} * interval '1 microsecond'"  # exact, unlike to_timestamp()
_TYPES = {c.name: c.pgtype for t in (TICKS, OHLCV, QUOTES) for c in t.stored_columns}
# New ticks in their stored form (underdog.store.offline.tick_storage); bid_volume_units and
# ask_volume_units stay NULL (MT5 sends no volumes). Bars are staged in their stored form too
# (underdog.store.offline.bar_storage; underdog_streaming.sink.stored_bar).
NEW_TICK_COLUMNS = ("symbol", "time", "seq", "price_scale", "bid_units", "ask_units",
                    "volume_scale", "available_lag_us")


def _at(column: str) -> sql.Composable:
    return sql.SQL(_AT.format(column))


@dataclass(frozen=True)
class Stage:
    """A temporary staging table: its columns (name, type) and the merge into `table`."""

    table: Table
    name: str
    columns: tuple[tuple[str, str], ...]
    values: dict[str, sql.Composable]  # SELECT expressions of the columns staged otherwise
    keep_stored: bool = False  # a key already there keeps its row
    replace_if: sql.Composable | None = None  # what a replacement of a stored row must meet

    @property
    def ddl(self) -> str:
        columns = ", ".join(f"{n} {t}" for n, t in self.columns)
        return f"CREATE TEMP TABLE IF NOT EXISTS {self.name} ({columns}) ON COMMIT DELETE ROWS"

    @property
    def types(self) -> list[str]:
        return [t for _, t in self.columns]

    @cached_property
    def merge(self) -> sql.Composed:  # composed once: a batch 40 times a second reuses it
        return merge_statement(self.table, sql.Identifier(self.name), self.values,
                               keep_stored=self.keep_stored, replace_if=self.replace_if)


def _typed(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((n, "int8" if n.endswith("_us") else _TYPES[n]) for n in names)


STAGES = {
    "ticks": Stage(TICKS, "stream_stage_ticks",
                   _typed("symbol", "time_us", "seq", "price_scale", "bid_units",
                          "ask_units", "lag_us"),
                   {"time": _at("time_us"), "volume_scale": sql.SQL("0"),
                    "bid_volume_units": sql.SQL("NULL"), "ask_volume_units": sql.SQL("NULL"),
                    "available_lag_us": sql.Identifier("lag_us")},
                   # the first writer's tick stays (a hot standby never alters it)
                   keep_stored=True),
    "bars": Stage(OHLCV, "stream_stage_bars",
                  _typed("symbol", "time_us", "price_scale", "open_units", "high_units",
                         "low_units", "close_units", "volume", "spread"),
                  {"time": _at("time_us"), "source": sql.SQL("%(source)s")},
                  # A minute's ticks only accumulate: from the same source a bar of fewer
                  # ticks is an older view of it (a standby behind the other, or one that
                  # joined mid-minute).
                  replace_if=sql.SQL("stored.source IS DISTINCT FROM EXCLUDED.source"
                                     " OR EXCLUDED.volume >= coalesce(stored.volume, 0)")),
    "quotes": Stage(QUOTES, "stream_stage_quotes",
                    _typed("symbol", "time_us", "bid", "ask", "depth", "available_us"),
                    {"time": _at("time_us"), "spread": sql.SQL("ask - bid"),
                     "available_at": _at("available_us")}),
}


def create_stages(conn: psycopg.Connection) -> None:
    """The staging tables of this session (outside any batch: a rollback must not undo it)."""
    for stage in STAGES.values():
        conn.execute(stage.ddl)


def stage_and_merge(cur: psycopg.Cursor, part: str, rows: Sequence[tuple], *,
                    source: str) -> None:
    """COPY `rows` (the stage's columns) into the stage of `part`, then merge them."""
    stage = STAGES[part]
    with cur.copy(f"COPY {stage.name} FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(stage.types)
        for row in rows:
            copy.write_row(row)
    cur.execute(stage.merge, {"source": source})


TICK_COPY = sql.SQL("COPY underdog.ticks ({}) FROM STDIN (FORMAT BINARY)").format(
    sql.SQL(", ").join(map(sql.Identifier, NEW_TICK_COLUMNS)))


def copy_new_ticks(cur: psycopg.Cursor, rows: Sequence[tuple]) -> None:
    """COPY ticks (symbol, time_us, seq, price_scale, bid_units, ask_units, lag_us) straight
    into `ticks`: a key already there raises UniqueViolation (stage and merge them then)."""
    with cur.copy(TICK_COPY) as copy:
        copy.set_types([_TYPES[c] for c in NEW_TICK_COLUMNS])
        for symbol, time_us, seq, scale, bid, ask, lag in rows:
            copy.write_row((symbol, EPOCH + timedelta(microseconds=time_us), seq, scale,
                            bid, ask, 0, lag))


def minute_ticks(conn: psycopg.Connection, symbol: str,
                 start_us: int) -> tuple[list, list, list]:
    """(time_us, bid, ask) of the stored ticks of the minute starting at `start_us`."""
    query = ("SELECT (extract(epoch FROM time) * 1000000)::bigint, bid, ask"
             " FROM underdog.tick_values WHERE symbol = %s"
             f" AND time >= {_AT.format('%s::int8')} AND time < {_AT.format('%s::int8')}"
             " ORDER BY time, seq")
    rows = conn.execute(query, (symbol, start_us, start_us + BAR_US)).fetchall()
    return ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])

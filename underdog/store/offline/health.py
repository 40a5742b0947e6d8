"""The reads behind `underdog health`, the exporter and `table_freshness`: the newest fact
per key of a table, dead letters per source, and storage per fact table.

`underdog.ops.freshness` and `underdog.ops.health` call these on one read-only connection
(`open_read_only`) with plain values: table and column names are their constants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from underdog.store.db import connect
from underdog.store.tables import FACT_TABLES


def open_read_only(dsn: str) -> psycopg.Connection:
    """A read-only autocommit connection (ConfigError, without the password, if unreachable)."""
    conn = connect(dsn, autocommit=True)
    conn.execute("SET default_transaction_read_only = on")
    return conn


def newest_per_key(conn: psycopg.Connection, table: str, known: str, key: str | None,
                   key_values: Sequence[str], today: datetime,
                   where: str = "") -> list[tuple[str, datetime | None, int]]:
    """(key value, newest `known`, rows with `known` >= today) per key value of `table`;
    one row with key "" when `key` is None. `where` is a constant SQL condition on the rows
    that count (never user input)."""
    relation = sql.Identifier("underdog", table)
    column = sql.Identifier(known)
    extra = sql.SQL(f" AND {where}" if where else "")
    if key is None:
        query = sql.SQL("SELECT '', (SELECT max({k}) FROM {t} WHERE true{x}),"
                        " (SELECT count(*) FROM {t} WHERE {k} >= %(today)s{x})")
        return conn.execute(query.format(k=column, t=relation, x=extra),
                            {"today": today}).fetchall()
    # One index probe per key: (key, time) leads every key of these tables or an index.
    query = sql.SQL(
        "SELECT v, (SELECT max({k}) FROM {t} WHERE {key} = v{x}),"
        " (SELECT count(*) FROM {t} WHERE {key} = v AND {k} >= %(today)s{x})"
        " FROM unnest(%(keys)s::text[]) AS v"
    ).format(k=column, t=relation, key=sql.Identifier(key), x=extra)
    return conn.execute(query, {"keys": list(key_values), "today": today}).fetchall()


def dead_letter_counts(conn: psycopg.Connection, since: datetime) -> dict[tuple[str, str], int]:
    """(source, target table) -> dead letters created at or after `since`."""
    rows = conn.execute(
        "SELECT source, target_table, count(*) FROM underdog.dead_letters"
        " WHERE created_at >= %s GROUP BY 1, 2", (since,)).fetchall()
    return {(s, t): int(n) for s, t, n in rows}


@dataclass
class TableStorage:
    table: str
    size_bytes: int
    chunks: int | None = None  # TimescaleDB hypertables only
    compressed_chunks: int | None = None
    before_bytes: int | None = None  # of the compressed chunks
    after_bytes: int | None = None

    @property
    def compression_ratio(self) -> float | None:
        if self.before_bytes and self.after_bytes:
            return self.before_bytes / self.after_bytes
        return None


HYPERTABLES = ("SELECT hypertable_name FROM timescaledb_information.hypertables"
               " WHERE hypertable_schema = 'underdog'")


def compression_query(table: str) -> str:
    """Size, chunks and columnstore bytes of one hypertable (catalog reads only). `table` is
    a name from FACT_TABLES (a constant), written into the text so PGlite runs it as is."""
    name = f"'underdog.{table}'::regclass"
    return (f"SELECT hypertable_size({name}), s.total_chunks, s.number_compressed_chunks,"
            " s.before_compression_total_bytes, s.after_compression_total_bytes"
            f" FROM hypertable_compression_stats({name}) s")


def storage(conn: psycopg.Connection, timescale: bool) -> list[TableStorage]:
    """Size per fact table; chunks and compression of its hypertable on TimescaleDB."""
    hypertables = {r[0] for r in conn.execute(HYPERTABLES)} if timescale else set()
    out = []
    for table in FACT_TABLES:
        row = conn.execute(compression_query(table)).fetchone() if table in hypertables else None
        if row is None:
            size = conn.execute("SELECT pg_total_relation_size(%s::regclass)",
                                (f"underdog.{table}",)).fetchone()
            out.append(TableStorage(table, int(size[0] or 0)))
            continue
        out.append(TableStorage(table, int(row[0] or 0), *(
            int(v) if v is not None else None for v in row[1:])))
    return out

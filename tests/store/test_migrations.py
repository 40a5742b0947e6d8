"""Migrations: from empty, twice, concurrently; every table, column and key as specified."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

from tests.conftest import fresh_dsn
from underdog.store import migrate
from underdog.store.admin import drop_database
from underdog.store.db import Database
from underdog.store.tables import FACT_TABLES

PG_TYPES = {"text": "text", "timestamptz": "timestamp with time zone", "date": "date",
            "float8": "double precision", "int8": "bigint", "int4": "integer", "int2": "smallint",
            "bool": "boolean", "jsonb": "jsonb"}
EXPECTED_TABLES = {
    *FACT_TABLES, "raw_documents", "dead_letters", "insider_transactions", "model_registry",
    "retention_policies", "ohlcv_1h", "ohlcv_1d", "hourly_sentiment_summary",
    "daily_trading_summary", "alembic_version", "tick_values", "ohlcv_values",
}


def test_upgrade_from_empty_twice_and_concurrently() -> None:
    dsn = fresh_dsn("migrate")
    try:
        assert migrate.current(dsn) is None
        # Two processes at once (a webserver and a daemon starting together).
        code = "import sys; from underdog.store import migrate; migrate.upgrade(sys.argv[1])"
        procs = [subprocess.Popen([sys.executable, "-c", code, dsn], stderr=subprocess.PIPE)
                 for _ in range(2)]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err.decode()
        assert migrate.current(dsn) == migrate.head() == "0012"
        assert migrate.upgrade(dsn) == "0012"  # a third time: nothing to do, no error
    finally:
        drop_database(dsn)


def test_every_table_exists(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        names = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'underdog'"
        )}
    assert names == EXPECTED_TABLES


def _columns(conn: psycopg.Connection, relation: str) -> list[tuple]:
    return conn.execute(
        "SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns"
        " WHERE table_schema = 'underdog' AND table_name = %s ORDER BY ordinal_position",
        (relation,),
    ).fetchall()


@pytest.mark.parametrize("name", sorted(FACT_TABLES))
def test_columns_and_keys_match_the_writer_specs(dsn: str, name: str) -> None:
    table = FACT_TABLES[name]
    with psycopg.connect(dsn) as conn:
        columns = _columns(conn, name)
        view = _columns(conn, table.values_view) if table.values_view else None
        key = conn.execute(
            "SELECT array_agg(a.attname ORDER BY k.ord) FROM pg_index i"
            " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
            " WHERE i.indrelid = %s::regclass AND i.indisprimary",
            (f"underdog.{name}",),
        ).fetchone()[0]
    assert columns == [(c.name, PG_TYPES[c.pgtype], c.nullable)
                       for c in table.stored_columns]
    if view is not None:  # the values the writers take, read back (a view: all nullable)
        assert [c[:2] for c in view] == [(c.name, PG_TYPES[c.pgtype]) for c in table.columns]
    assert tuple(key) == table.key
    assert "time" in key  # a TimescaleDB unique key must contain the partitioning column
    if name != "ohlcv":  # bars are known at their close; every other fact says when it was
        assert "available_at" in table.column_names


def test_retention_windows_follow_the_design(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        windows = dict(conn.execute(
            "SELECT table_name, keep::text FROM underdog.retention_policies"
        ).fetchall())
    assert windows == {
        "ohlcv": "2 years", "ticks": "90 days", "sentiment_scores": "1 year",
        "macro_indicators": "5 years", "regime_predictions": "2 years",
        "state_vectors": "2 years", "trades": "2 years", "positions": "2 years",
        "metrics": "2 years", "account_snapshots": "2 years", "quotes": "90 days",
    }


def hypertables(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        if not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone():
            return []
        return sorted(r[0] for r in conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables"
            " WHERE hypertable_schema = 'underdog'"))


def test_timescale_on_is_a_clear_error_without_the_extension_and_hypertables_with_it(
        database: Database) -> None:
    dsn = fresh_dsn("tson")
    try:
        if database.is_timescale:  # the test server has TimescaleDB: "on" must use it
            migrate.upgrade(dsn, timescale="on")
            assert hypertables(dsn) == sorted(FACT_TABLES)
        else:
            with pytest.raises(RuntimeError, match="UNDERDOG_TIMESCALE=on"):
                migrate.upgrade(dsn, timescale="on")
    finally:
        drop_database(dsn)


def test_timescale_off_gives_plain_tables_on_any_server() -> None:
    dsn = fresh_dsn("tsoff")
    try:
        migrate.upgrade(dsn, timescale="off")
        assert hypertables(dsn) == []
        with psycopg.connect(dsn) as conn:
            kinds = dict(conn.execute(
                "SELECT relname, relkind FROM pg_class WHERE relname IN ('ohlcv', 'ohlcv_1h')"
                " AND relnamespace = 'underdog'::regnamespace").fetchall())
        assert kinds == {"ohlcv": "r", "ohlcv_1h": "r"}  # summaries are tables, not views
    finally:
        drop_database(dsn)


def test_a_key_value_dsn_migrates_the_database_it_names() -> None:
    dsn = fresh_dsn("kv")
    try:
        keyvalue = psycopg.conninfo.make_conninfo(**psycopg.conninfo.conninfo_to_dict(dsn))
        assert "://" not in keyvalue
        assert migrate.upgrade(keyvalue) == migrate.head()
        assert migrate.current(dsn) == migrate.head()
    finally:
        drop_database(dsn)

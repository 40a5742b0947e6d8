"""The TimescaleDB path of the migrations, on real TimescaleDB DDL, against plain PostgreSQL.

TimescaleDB is not packaged for this machine; PGlite (PostgreSQL in WASM) with TimescaleDB
2.23 is, through `tests/timescale/run_sql.mjs` and PGlite's JS API (over a socket it crashes
on COPY and pipelined statements, so data goes in as plain INSERTs). One PGlite process
runs every step of this module: the migrations' TimescaleDB statements (rendered from the
migration modules themselves), checks through `timescaledb_information`, a small data set,
cagg refreshes, the summary queries, then (with chunks in the columnstore) the whole
statement list a second time, and reads as the reader role.
The same data goes into a fresh plain-PostgreSQL database migrated the normal way, and the
summaries of both backends must be equal.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import random
import shutil
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest
from alembic import command
from psycopg import sql
from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tests" / "timescale" / "run_sql.mjs"
VERSIONS = ROOT / "underdog" / "store" / "migrations" / "versions"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        NODE is None or not (RUNNER.parent / "node_modules").is_dir(),
        reason="needs node and PGlite+TimescaleDB: run `npm ci --prefix tests/timescale`",
    ),
]

SUMMARY_KEYS = {
    "ohlcv_1h": "symbol, time",
    "ohlcv_1d": "symbol, time",
    "hourly_sentiment_summary": "symbol, source, time",
    "daily_trading_summary": "strategy, time",
}
# A time_bucket-free view of the raw bars: both backends must hold the same input.
RAW_OHLCV = """
SELECT symbol, (time AT TIME ZONE 'UTC')::date AS day, count(*) AS bars,
       sum(volume) AS volume, min(low) AS low, max(high) AS high
FROM underdog.ohlcv GROUP BY 1, 2 ORDER BY 1, 2
"""
# Policy jobs of the fact tables, beside the retention window the plain backend uses.
POLICY_JOBS = """
SELECT j.hypertable_name AS name, j.proc_name,
       extract(epoch FROM (j.config->>'compress_after')::interval) AS after_s,
       extract(epoch FROM (j.config->>'drop_after')::interval) AS drop_s,
       extract(epoch FROM p.keep) AS keep_s
FROM timescaledb_information.jobs j
LEFT JOIN underdog.retention_policies p ON p.table_name = j.hypertable_name
WHERE j.hypertable_schema = 'underdog'
  AND j.proc_name IN ('policy_compression', 'policy_retention')
ORDER BY 1, 2
"""
CAGGS = """
SELECT c.view_name, c.materialized_only, j.proc_name,
       extract(epoch FROM (j.config->>'start_offset')::interval) AS start_s,
       extract(epoch FROM (j.config->>'end_offset')::interval) AS end_s,
       extract(epoch FROM j.schedule_interval) AS every_s
FROM timescaledb_information.continuous_aggregates c
LEFT JOIN timescaledb_information.jobs j  -- a cagg's job names the view, not its hypertable
       ON j.hypertable_schema = c.view_schema AND j.hypertable_name = c.view_name
WHERE c.view_schema = 'underdog' ORDER BY 1
"""
HYPERTABLE_DIMENSIONS = """
SELECT h.hypertable_name AS name, h.compression_enabled, d.column_name,
       extract(epoch FROM d.time_interval) AS chunk_s
FROM timescaledb_information.hypertables h
JOIN timescaledb_information.dimensions d USING (hypertable_schema, hypertable_name)
WHERE h.hypertable_schema = 'underdog' ORDER BY 1
"""
COLUMNSTORE_SETTINGS = """
SELECT hypertable::text AS hypertable, segmentby, orderby
FROM timescaledb_information.hypertable_columnstore_settings
WHERE hypertable::text LIKE 'underdog.%' ORDER BY 1
"""
SCHEMA_COUNTS = """
SELECT (SELECT count(*) FROM timescaledb_information.jobs WHERE job_id >= 1000) AS jobs,
       (SELECT count(*) FROM timescaledb_information.hypertables) AS hypertables,
       (SELECT count(*) FROM timescaledb_information.continuous_aggregates) AS caggs,
       (SELECT count(*) FROM underdog.retention_policies) AS retention_rows
"""


# --- the migrations, as their TimescaleDB branch would run them -------------------------------


def load_migration(stem: str) -> ModuleType:
    """A revision module from its file (its name starts with a digit: no plain import)."""
    path = VERSIONS / f"{stem}.py"
    spec = importlib.util.spec_from_file_location(f"underdog_revision_{stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Scalar:
    def __init__(self, value: object) -> None:
        self.value = value

    def scalar(self) -> object:
        return self.value


class TimescaleBind:
    """Answers the revisions' availability questions as a server with TimescaleDB preloaded."""

    def execute(self, clause: object) -> _Scalar:
        text = str(clause)
        if "shared_preload_libraries" in text:
            return _Scalar("timescaledb")
        if "timescaledb" in text:  # pg_available_extensions (0002), pg_extension (0003)
            return _Scalar(1)
        raise AssertionError(f"unexpected question from a revision: {text}")


class RecordingOp:
    """Stands in for `alembic.op`: records the SQL an upgrade() executes, in order."""

    def __init__(self) -> None:
        self.executed: list[str] = []

    def execute(self, statement: object) -> None:
        self.executed.append(str(statement))

    def get_bind(self) -> TimescaleBind:
        return TimescaleBind()

    def get_context(self) -> RecordingOp:
        return self

    @contextmanager
    def autocommit_block(self) -> Iterator[None]:
        yield


def run_upgrade(module: ModuleType, **context: Any) -> list[str]:
    op = RecordingOp()
    module.op = op
    module.upgrade(**context)
    return op.executed


PGLITE_REVISION = "0007"  # the last revision PGlite replays (`revisions` below)


@dataclass(frozen=True)
class Revisions:
    tables: ModuleType
    timescale: ModuleType
    aggregates: ModuleType
    reader: ModuleType
    ledger: ModuleType


@pytest.fixture(scope="module")
def revisions() -> Revisions:
    return Revisions(*(load_migration(stem) for stem in
                       ("0001_tables", "0002_timescale", "0003_aggregates", "0004_reader_role",
                        "0007_ledger_runs")))


def migration_statements(rev: Revisions) -> list[str]:
    """Every statement, in order, that `underdog db upgrade` runs on a TimescaleDB server."""
    out = ["CREATE SCHEMA IF NOT EXISTS underdog"]  # env.py does this before revision 0001
    out += [rev.tables.FACT_TABLES, rev.tables.PLAIN_TABLES, rev.tables.RETENTION]
    out += rev.timescale.statements()
    for name, spec in rev.aggregates.AGGREGATES.items():
        out += rev.aggregates.continuous_aggregate(name, spec)  # one step each: no transaction
    out += run_upgrade(rev.reader, reader_role="underdog_reader")
    out += run_upgrade(rev.ledger)  # ADD COLUMN on hypertables with the columnstore enabled
    return out


# --- a small deterministic data set, as INSERT statements both backends run -----------------

SYMBOLS = {"EURUSD": (1.09500, 5), "USDJPY": (144.800, 3)}
# FX hours around a weekend: Friday until the 22:00 UTC close, Sunday from the 22:00 open,
# all of Monday. No bars in between.
SESSIONS = [
    (datetime(2024, 1, 5, 0, 0, tzinfo=UTC), datetime(2024, 1, 5, 22, 0, tzinfo=UTC)),
    (datetime(2024, 1, 7, 22, 0, tzinfo=UTC), datetime(2024, 1, 8, 0, 0, tzinfo=UTC)),
    (datetime(2024, 1, 8, 0, 0, tzinfo=UTC), datetime(2024, 1, 9, 0, 0, tzinfo=UTC)),
]
WINDOW = (SESSIONS[0][0], SESSIONS[-1][1])
ROWS_PER_INSERT = 500


def ts(value: datetime) -> str:
    return f"TIMESTAMPTZ '{value.isoformat()}'"


def literal(value: object) -> str:
    if isinstance(value, datetime):
        return ts(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)  # shortest round-trip float: both servers parse the same double


def inserts(table: str, rows: list[dict[str, object]]) -> list[str]:
    columns = ", ".join(rows[0])
    out = []
    for i in range(0, len(rows), ROWS_PER_INSERT):
        values = ",\n".join(
            "(" + ", ".join(literal(v) for v in row.values()) + ")"
            for row in rows[i:i + ROWS_PER_INSERT]
        )
        out.append(f"INSERT INTO underdog.{table} ({columns}) VALUES\n{values}")
    return out


def bars(rng: random.Random) -> list[dict[str, object]]:
    """M1 bars, a random walk per symbol; about 3% of minutes missing (no ticks)."""
    out = []
    for symbol, (price, digits) in SYMBOLS.items():
        pip = 10.0 ** -(digits - 1)
        for start, end in SESSIONS:
            t = start
            while t < end:
                if rng.random() > 0.03:
                    open_ = round(price, digits)
                    close = round(price + rng.gauss(0, 3 * pip), digits)
                    out.append({
                        "symbol": symbol, "time": t, "open": open_,
                        "high": round(max(open_, close) + rng.random() * 2 * pip, digits),
                        "low": round(min(open_, close) - rng.random() * 2 * pip, digits),
                        "close": close, "volume": rng.randint(1, 400),
                        "spread": round(rng.uniform(0.1, 2.0) * pip, digits + 1),
                        "source": "test",
                    })
                    price = close
                t += timedelta(minutes=1)
    return out


def sentiment_scores(rng: random.Random) -> list[dict[str, object]]:
    """~30 scores clustered in a few hours, so most buckets have several (std is defined)."""
    hours = [datetime(2024, 1, 5, 9, tzinfo=UTC), datetime(2024, 1, 5, 14, tzinfo=UTC),
             datetime(2024, 1, 8, 7, tzinfo=UTC), datetime(2024, 1, 8, 16, tzinfo=UTC)]
    out = []
    for i in range(30):
        time = rng.choice(hours) + timedelta(minutes=rng.randrange(60), seconds=rng.randrange(60))
        sentiment = round(rng.uniform(-1, 1), 4)
        out.append({
            "symbol": rng.choice(list(SYMBOLS)), "source": rng.choice(["news", "reddit"]),
            "item_id": f"item-{i:03d}", "time": time, "available_at": time + timedelta(minutes=2),
            "sentiment": sentiment, "confidence": round(rng.uniform(0.2, 1.0), 4),
            "label": "positive" if sentiment > 0 else "negative", "model": "lexicon-test",
        })
    return out


def trades(rng: random.Random) -> list[dict[str, object]]:
    """~20 closed trades over the three days; one breaks even (not a win)."""
    days = [datetime(2024, 1, d, tzinfo=UTC) for d in (5, 8)] + [datetime(2024, 1, 7, tzinfo=UTC)]
    out = []
    for i in range(20):
        day = days[i % len(days)]
        hour = rng.randrange(22, 24) if day.day == 7 else rng.randrange(1, 21)
        exit_time = day + timedelta(hours=hour, minutes=rng.randrange(60))
        entry = round(rng.uniform(1.09, 1.10), 5)
        pnl = 0.0 if i == 7 else round(rng.uniform(-50, 80), 2)
        out.append({
            "time": exit_time, "trade_id": f"t-{i:03d}", "strategy": ["trend", "meanrev"][i % 2],
            "symbol": "EURUSD", "side": rng.choice(["long", "short"]),
            "size": float(rng.choice([1000, 5000, 10000])),
            "entry_time": exit_time - timedelta(minutes=rng.randrange(5, 300)),
            "entry_price": entry, "exit_price": round(entry + rng.uniform(-0.002, 0.002), 5),
            "commission": round(rng.uniform(0, 3), 2), "pnl": pnl, "available_at": exit_time,
        })
    return out


@dataclass(frozen=True)
class DataSet:
    bars: list[dict[str, object]]
    scores: list[dict[str, object]]
    trades: list[dict[str, object]]

    def statements(self) -> list[str]:
        return (inserts("ohlcv", self.bars) + inserts("sentiment_scores", self.scores)
                + inserts("trades", self.trades))


@pytest.fixture(scope="module")
def data() -> DataSet:
    rng = random.Random(20240105)
    return DataSet(bars(rng), sentiment_scores(rng), trades(rng))


# --- one PGlite run for the whole module ----------------------------------------------------


@dataclass
class Plan:
    """Labelled steps for run_sql.mjs; labels find each step's result afterwards."""

    steps: list[dict[str, object]] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)

    def add(self, label: str, statement: str, *, fetch: bool = False) -> None:
        assert label not in self.labels, label
        self.labels[label] = len(self.steps)
        self.names.append(label)
        self.steps.append({"sql": statement, "fetch": fetch})

    def add_all(self, prefix: str, statements: list[str]) -> None:
        for i, statement in enumerate(statements):
            self.add(f"{prefix}:{i:03d}", statement)


@dataclass
class Run:
    plan: Plan
    results: list[dict[str, Any]]
    seconds: float

    def failure(self) -> str | None:
        """The failing step, its error and SQL, or None when every step succeeded."""
        if len(self.results) == len(self.plan.steps) and all(r["ok"] for r in self.results):
            return None
        last = self.results[-1] if self.results else {"error": "no output", "step": 0}
        i = int(last.get("step", len(self.results)))
        statement = str(self.plan.steps[i]["sql"])[:600] if i < len(self.plan.steps) else ""
        return f"step {i} ({self.plan.names[i]}) failed: {last.get('error')}\nSQL: {statement}"

    def failures_in(self, prefix: str) -> str | None:
        """The failure if it is in, or came before, the steps labelled `prefix:*`."""
        indices = [i for name, i in self.plan.labels.items() if name.startswith(prefix + ":")]
        assert indices, f"no steps labelled {prefix}"
        return self.failure() if len(self.results) <= max(indices) or any(
            not self.results[i]["ok"] for i in indices) else None

    def rows(self, label: str) -> list[dict[str, Any]]:
        i = self.plan.labels[label]
        if i >= len(self.results) or not self.results[i]["ok"]:
            pytest.fail(f"{label} has no result: {self.failure()}")
        return self.results[i]["rows"]


def run_pglite(plan: Plan) -> Run:
    started = datetime.now(UTC)
    done = subprocess.run(
        [str(NODE), str(RUNNER)], input=json.dumps({"steps": plan.steps}),
        capture_output=True, text=True, timeout=180, cwd=RUNNER.parent, check=False,
    )
    seconds = (datetime.now(UTC) - started).total_seconds()
    if done.returncode not in (0, 1) or not done.stdout.strip():
        pytest.fail(f"run_sql.mjs exited {done.returncode}: {done.stderr[-2000:]}")
    return Run(plan, json.loads(done.stdout), seconds)


def refresh_windows(names: list[str]) -> dict[str, tuple[datetime, datetime]]:
    from underdog.store.offline.aggregates import BUCKETS, align

    return {name: align(*WINDOW, BUCKETS[name]) for name in names}


def packs_check() -> str:
    """BarPacks' fingerprint query over the whole window of EURUSD, with literal values."""
    from underdog.store.online.bar_packs import CHECK_SQL

    return CHECK_SQL % (literal("EURUSD"), ts(WINDOW[0]), ts(WINDOW[1]))


def summary_query(name: str) -> str:
    return f"SELECT * FROM underdog.{name} ORDER BY {SUMMARY_KEYS[name]}"


@pytest.fixture(scope="module")
def pglite(revisions: Revisions, data: DataSet) -> Run:
    statements = migration_statements(revisions)
    plan = Plan()
    plan.add_all("migrate1", statements)
    plan.add("version", "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
             fetch=True)
    for label, query in [("hypertables", HYPERTABLE_DIMENSIONS), ("policies", POLICY_JOBS),
                         ("columnstore", COLUMNSTORE_SETTINGS), ("caggs", CAGGS),
                         ("counts1", SCHEMA_COUNTS)]:
        plan.add(label, query, fetch=True)
    plan.add_all("data", data.statements())
    for name, (lo, hi) in refresh_windows(list(SUMMARY_KEYS)).items():
        # One step each: refresh_continuous_aggregate refuses a transaction block.
        plan.add(f"refresh:{name}",
                 f"CALL refresh_continuous_aggregate('underdog.{name}', {ts(lo)}, {ts(hi)})")
    for name in SUMMARY_KEYS:
        plan.add(f"summary:{name}", summary_query(name), fetch=True)
    plan.add("raw", RAW_OHLCV, fetch=True)
    plan.add("packs:rowstore", packs_check(), fetch=True)
    # Chunks in the columnstore, as in production after 30 days: the second pass re-applies
    # the columnstore settings to a hypertable that has compressed chunks.
    plan.add("compress", "SELECT count(compress_chunk(c)) AS chunks"
             " FROM show_chunks('underdog.ohlcv') c", fetch=True)
    plan.add_all("migrate2", statements)
    plan.add("counts2", SCHEMA_COUNTS, fetch=True)
    plan.add("raw2", RAW_OHLCV, fetch=True)
    # Serving reads run as the reader role (0004); a cagg's rows live in an internal table.
    plan.add("reader:set", "SET ROLE underdog_reader")
    plan.add("reader:cagg", "SELECT count(*) AS n FROM underdog.ohlcv_1d", fetch=True)
    plan.add("reader:table", "SELECT count(*) AS n FROM underdog.ohlcv", fetch=True)
    plan.add("reader:reset", "RESET ROLE")
    plan.add("packs:columnstore", packs_check())  # expected to fail: it must be the last step
    run = run_pglite(plan)
    print(f"\nPGlite: {len(plan.steps)} steps in {run.seconds:.1f} s")
    return run


# --- the same data on plain PostgreSQL ------------------------------------------------------


def database_url(dbname: str) -> str:
    """A database on the test server (as tests/conftest.py), in URL form: the migration
    runner rewrites the URL's scheme for SQLAlchemy and mishandles key=value DSNs."""
    server = os.environ.get("UNDERDOG_TEST_SERVER", "postgresql://postgres@127.0.0.1:5432")
    assert "://" in server, f"UNDERDOG_TEST_SERVER must be a URL: {server}"
    return f"{server.rstrip('/')}/{dbname}"


@pytest.fixture(scope="module")
def plain_dsn() -> Iterator[str]:
    name = f"underdog_test_ts_{uuid.uuid4().hex[:12]}"
    admin = database_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                         .format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def plain(plain_dsn: str, data: DataSet) -> dict[str, list[dict[str, Any]]]:
    """Summary and raw query rows from plain PostgreSQL, keyed like the PGlite steps."""
    from underdog.store import migrate
    from underdog.store.db import Database
    from underdog.store.offline.aggregates import refresh

    # The plain-PostgreSQL path even when the test server has TimescaleDB (make test-timescale),
    # to the revision PGlite replays: later ones store bars as integer units (0012).
    command.upgrade(migrate._config(plain_dsn, timescale="off", reader_role="underdog_reader"),
                    PGLITE_REVISION)
    with Database(plain_dsn) as db:
        assert not db.is_timescale, "the plain path must not create the extension"
        with db.connection() as conn, conn.transaction():
            for statement in data.statements():
                conn.execute(statement)
        for name in SUMMARY_KEYS:
            refresh(db, name, *WINDOW)
        with db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            out = {f"summary:{name}": cur.execute(summary_query(name)).fetchall()
                   for name in SUMMARY_KEYS}
            out["raw"] = cur.execute(RAW_OHLCV).fetchall()
    return out


# --- comparing rows across backends ---------------------------------------------------------


def normalise(value: object) -> object:
    """PGlite's JSON (ISO strings, numbers) and psycopg's objects, on common ground."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).astimezone(UTC)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


def same_value(a: object, b: object) -> bool:
    a, b = normalise(a), normalise(b)
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        # Sums over floats in another order differ in the last bits; nothing more.
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def assert_same_rows(timescale: list[dict[str, Any]], plain: list[dict[str, Any]]) -> None:
    assert timescale, "TimescaleDB returned no rows: the comparison would prove nothing"
    assert [list(r) for r in timescale[:1]] == [list(r) for r in plain[:1]], "columns differ"
    assert len(timescale) == len(plain), f"{len(timescale)} rows vs {len(plain)}"
    for i, (a, b) in enumerate(zip(timescale, plain, strict=True)):
        diff = {k: (a[k], b[k]) for k in a if not same_value(a[k], b[k])}
        assert not diff, f"row {i} differs (timescaledb, postgres): {diff}"


# --- tests ----------------------------------------------------------------------------------


def test_statement_list_is_what_upgrade_runs_on_timescaledb(revisions: Revisions) -> None:
    """The list fed to PGlite equals what the revisions' upgrade() run on TimescaleDB."""
    upgraded = ["CREATE SCHEMA IF NOT EXISTS underdog"]
    upgraded += run_upgrade(revisions.tables)
    upgraded += run_upgrade(revisions.timescale, timescale="auto")
    upgraded += run_upgrade(revisions.aggregates)
    upgraded += run_upgrade(revisions.reader, reader_role="underdog_reader")
    upgraded += run_upgrade(revisions.ledger)
    assert upgraded == migration_statements(revisions)
    assert any("create_hypertable" in s for s in upgraded)
    assert any("timescaledb.continuous" in s for s in upgraded)


def test_timescaledb_version(pglite: Run) -> None:
    version = pglite.rows("version")[0]["extversion"]
    print(f"\nTimescaleDB in PGlite: {version}")
    # The columnstore API (enable_columnstore, add_columnstore_policy) arrived in 2.18.
    assert tuple(int(p) for p in version.split("-")[0].split(".")[:2]) >= (2, 18), version


def test_every_migration_statement_succeeds(pglite: Run) -> None:
    assert pglite.failures_in("migrate1") is None, pglite.failures_in("migrate1")


def test_fact_tables_are_hypertables(pglite: Run, revisions: Revisions) -> None:
    expected = revisions.timescale.HYPERTABLES
    rows = {r["name"]: r for r in pglite.rows("hypertables")}
    assert sorted(rows) == sorted(expected)
    for table, (chunk, _segment_by, _after) in expected.items():
        assert rows[table]["column_name"] == "time", table
        assert rows[table]["chunk_s"] == interval_seconds(chunk), table
        assert rows[table]["compression_enabled"] is True, table


def test_columnstore_settings(pglite: Run, revisions: Revisions) -> None:
    rows = {r["hypertable"]: r for r in pglite.rows("columnstore")}
    expected = revisions.timescale.HYPERTABLES
    assert sorted(rows) == sorted(f"underdog.{t}" for t in expected)
    for table, (_chunk, segment_by, _after) in expected.items():
        assert rows[f"underdog.{table}"]["segmentby"] == segment_by, table
        # TimescaleDB renders the orderby 0002 sets ('time DESC') with a quoted column.
        assert rows[f"underdog.{table}"]["orderby"] == '"time" DESC', table


def test_columnstore_and_retention_policies(pglite: Run, revisions: Revisions) -> None:
    expected = revisions.timescale.HYPERTABLES
    jobs = pglite.rows("policies")
    columnstore = {r["name"]: r for r in jobs if r["proc_name"] == "policy_compression"}
    retention = {r["name"]: r for r in jobs if r["proc_name"] == "policy_retention"}
    assert sorted(columnstore) == sorted(expected)
    assert sorted(retention) == sorted(expected)
    assert len(jobs) == 2 * len(expected), "one columnstore and one retention job per table"
    for table, (_chunk, _segment_by, after) in expected.items():
        assert columnstore[table]["after_s"] == interval_seconds(after), table
        assert retention[table]["keep_s"] is not None, f"{table}: no underdog.retention_policies"
        assert retention[table]["drop_s"] == retention[table]["keep_s"], table


def test_continuous_aggregates_with_refresh_policies(pglite: Run, revisions: Revisions) -> None:
    rows = {r["view_name"]: r for r in pglite.rows("caggs")}
    aggregates = revisions.aggregates.AGGREGATES
    assert sorted(rows) == sorted(aggregates)
    for name, (*_, (start, end, every)) in aggregates.items():
        row = rows[name]
        assert row["materialized_only"] is True, name
        assert row["proc_name"] == "policy_refresh_continuous_aggregate", name
        assert (row["start_s"], row["end_s"], row["every_s"]) == (
            interval_seconds(start), interval_seconds(end), interval_seconds(every)), name


@pytest.mark.parametrize("name", list(SUMMARY_KEYS))
def test_summaries_equal_on_both_backends(pglite: Run, plain: dict, name: str) -> None:
    assert_same_rows(pglite.rows(f"summary:{name}"), plain[f"summary:{name}"])


def test_summary_bucket_counts(pglite: Run, data: DataSet) -> None:
    """The buckets are the ones the data implies (a guard on the comparison above)."""
    hours = {(b["symbol"], b["time"].replace(minute=0)) for b in data.bars}
    days = {(b["symbol"], b["time"].date()) for b in data.bars}
    assert len(pglite.rows("summary:ohlcv_1h")) == len(hours)
    assert len(pglite.rows("summary:ohlcv_1d")) == len(days) == 2 * 3
    assert sum(r["bars"] for r in pglite.rows("summary:ohlcv_1d")) == len(data.bars)
    assert sum(r["n"] for r in pglite.rows("summary:hourly_sentiment_summary")) == len(data.scores)
    assert sum(r["trades"] for r in pglite.rows("summary:daily_trading_summary")) == len(
        data.trades)


def test_raw_bars_equal_on_both_backends(pglite: Run, plain: dict, data: DataSet) -> None:
    assert_same_rows(pglite.rows("raw"), plain["raw"])
    assert sum(r["bars"] for r in pglite.rows("raw")) == len(data.bars)


def test_migrations_run_twice_on_timescaledb(pglite: Run) -> None:
    """A second pass (a half-applied upgrade retried) succeeds and creates nothing twice,
    also once chunks are in the columnstore."""
    assert pglite.rows("compress")[0]["chunks"] > 0, "no chunk was compressed"
    assert pglite.failures_in("migrate2") is None, pglite.failures_in("migrate2")
    assert pglite.rows("counts2") == pglite.rows("counts1")
    assert pglite.rows("raw2") == pglite.rows("raw"), "the second pass touched the data"


def test_reader_role_reads_hypertables_and_aggregates(pglite: Run, data: DataSet) -> None:
    assert pglite.rows("reader:cagg") == [{"n": 2 * 3}]
    assert pglite.rows("reader:table") == [{"n": len(data.bars)}]


def test_bar_pack_fingerprints_need_the_rowstore(pglite: Run, data: DataSet) -> None:
    """Row versions carry xmin until their chunk moves to the columnstore; then the query
    fails with the SQLSTATE that BarPacks catches to read such days from the table."""
    days = pglite.rows("packs:rowstore")
    counts = sorted(int(row["fingerprint"].rsplit("/", 1)[1].split(":")[0]) for row in days)
    per_day = Counter(b["time"].date() for b in data.bars if b["symbol"] == "EURUSD")
    assert counts == sorted(per_day.values())
    failed = pglite.results[-1]
    assert pglite.plan.names[failed["step"]] == "packs:columnstore" and not failed["ok"]
    sqlstate = psycopg.errors.InvalidColumnReference.sqlstate
    assert f"SQLSTATE {sqlstate}" in failed["error"], failed["error"]


def test_pglite_run_is_quick(pglite: Run) -> None:
    assert pglite.seconds < 60, f"PGlite took {pglite.seconds:.0f} s"


# --- helpers --------------------------------------------------------------------------------

_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "year": 365.25 * 86400}


def interval_seconds(text: str) -> float:
    """'7 days' -> seconds, as PostgreSQL's extract(epoch ...) counts them (a year = 365.25 d)."""
    amount, unit = text.split()
    return float(amount) * _UNIT_SECONDS[unit.rstrip("s")]

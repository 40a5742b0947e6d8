"""`underdog db create` with an admin DSN: the services log in as a writer that owns the
database and as the read-only reader, each with its password, never as the superuser.

On a PostgreSQL cluster of the test's own with password (SCRAM) authentication for every user
but the superuser, as in docker/docker-compose.yml.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.helpers import bar_frame
from tests.streaming.conftest import PG_BIN, PrivatePostgres
from underdog.config import ConfigError, load_settings
from underdog.store.db import Database
from underdog.store.offline.writers import upsert
from underdog.store.tables import OHLCV

ROOT = Path(__file__).resolve().parents[2]
CLI = "from underdog_cli.app import app; app(prog_name='underdog')"
WRITER_PASSWORD, READER_PASSWORD = "w-secret-1", "r-secret-2"


@pytest.fixture(scope="module", params=["postgresql", "timescaledb"])
def scram_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(host:port, UNDERDOG_TIMESCALE). The TimescaleDB one is set up as the compose image
    does: the database exists, owned by postgres, with the extension created in it."""
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"PostgreSQL server binaries not found in {PG_BIN}")
    timescale = request.param == "timescaledb"
    if timescale and not (PG_BIN.parent / "lib" / "timescaledb.so").exists():
        pytest.skip("TimescaleDB is not installed for this PostgreSQL (shared/timescaledb)")
    cluster = PrivatePostgres()
    try:
        data = cluster.dir / "data"
        (data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "host all postgres 127.0.0.1/32 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n")
        if timescale:
            with (data / "postgresql.conf").open("a") as conf:
                conf.write("shared_preload_libraries = 'timescaledb'\n"
                           "timescaledb.telemetry_level = off\n")
            cluster.stop()
            cluster.start()
            with psycopg.connect(f"{cluster.server}/postgres", autocommit=True) as conn:
                conn.execute("CREATE DATABASE underdog")
            with psycopg.connect(f"{cluster.server}/underdog", autocommit=True) as conn:
                conn.execute("CREATE EXTENSION timescaledb")
        with psycopg.connect(f"{cluster.server}/postgres", autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")
        yield f"127.0.0.1:{cluster.port}", "on" if timescale else "off"
    finally:
        cluster.destroy()


def _env(host: str, timescale: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("UNDERDOG_", "DAGSTER_PG")) and k != "PGPASSWORD"}
    return {
        **env, "PYTHONPATH": str(ROOT), "UNDERDOG_TIMESCALE": timescale,
        "UNDERDOG_ADMIN_DATABASE_URL": f"postgresql://postgres@{host}/postgres",
        "UNDERDOG_DATABASE_URL": f"postgresql://underdog_writer:{WRITER_PASSWORD}@{host}/underdog",
        "UNDERDOG_READER_PASSWORD": READER_PASSWORD,
        "DAGSTER_PG_URL":
            f"postgresql+psycopg2://underdog_writer:{WRITER_PASSWORD}@{host}/underdog_dagster",
    }


def _underdog(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", CLI, *args], env=env, cwd="/",
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def provisioned(scram_server: tuple[str, str]) -> dict[str, str]:
    env = _env(*scram_server)
    out = _underdog(env, "db", "create")
    assert "DAGSTER_PG_URL: created" in out
    assert "UNDERDOG_DATABASE_URL: " + (
        "exists, underdog_writer may create in it" if scram_server[1] == "on" else "created"
    ) in out
    upgraded = _underdog(env, "db", "upgrade")
    assert ("on TimescaleDB" in upgraded) == (scram_server[1] == "on"), upgraded
    assert "created" not in _underdog(env, "db", "create")  # a second time: nothing new
    return env


def test_the_services_log_in_as_a_writer_and_a_reader_not_as_postgres(
        provisioned: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in provisioned.items():
        if name.startswith("UNDERDOG_"):
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("UNDERDOG_ADMIN_DATABASE_URL")
    settings = load_settings()
    with Database.from_settings(settings) as db:
        # the writer owns the tables; recent bars: no retention job of the server (0012
        # makes ohlcv's anew at upgrade) drops them mid-test
        recent = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        upsert(db, OHLCV, bar_frame(3, start=recent - timedelta(days=3)), source="test")
        with db.connection() as conn:
            owner = conn.execute(
                "SELECT current_user, rolsuper, (SELECT tableowner FROM pg_tables WHERE"
                " schemaname = 'underdog' AND tablename = 'ohlcv') FROM pg_roles"
                " WHERE rolname = current_user").fetchone()
            assert owner == ("underdog_writer", False, "underdog_writer")
        with db.reader() as conn:
            assert conn.execute("SELECT current_user, count(*) FROM underdog.ohlcv"
                                ).fetchone() == ("underdog_reader", 3)
            conn.execute("SET default_transaction_read_only = off")
            for write in ("DELETE FROM underdog.ohlcv", "CREATE TEMP TABLE t (x int)",
                          "SELECT lo_from_bytea(0, 'x')"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(write)
    dagster = provisioned["DAGSTER_PG_URL"].replace("+psycopg2", "")
    with psycopg.connect(dagster) as conn:  # Dagster's storage: the writer may create in it
        conn.execute("CREATE TABLE runs_probe (x int)")


def test_a_wrong_reader_password_is_a_clear_error(provisioned: dict[str, str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNDERDOG_DATABASE_URL", provisioned["UNDERDOG_DATABASE_URL"])
    monkeypatch.setenv("UNDERDOG_READER_PASSWORD", "not-it")
    with pytest.raises(ConfigError, match="reader login.*password authentication failed") as err:
        Database.from_settings(load_settings())
    assert "not-it" not in str(err.value) and WRITER_PASSWORD not in str(err.value)

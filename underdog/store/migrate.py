"""Run the versioned migrations (Alembic) against a database, programmatically."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from underdog.store.db import SCHEMA, check_database

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(dsn: str, *, timescale: str = "auto", reader_role: str = "underdog_reader") -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes.update(dsn=dsn, timescale=timescale, reader_role=reader_role)
    return config


def upgrade(dsn: str, *, timescale: str = "auto", reader_role: str = "underdog_reader") -> str:
    """Migrate to the newest revision (a no-op when already there); return it."""
    check_database(dsn)
    command.upgrade(_config(dsn, timescale=timescale, reader_role=reader_role), "head")
    return current(dsn) or ""


def head() -> str:
    return ScriptDirectory.from_config(_config("")).get_current_head() or ""


def current(dsn: str) -> str | None:
    """The revision the database is at, or None before the first migration."""
    engine = create_engine("postgresql+psycopg://" + dsn.partition("://")[2], poolclass=NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table_schema": SCHEMA})
            return context.get_current_revision()
    finally:
        engine.dispose()

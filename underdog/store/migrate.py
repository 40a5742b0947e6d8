"""Run the versioned migrations (Alembic) against a database, programmatically."""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from underdog.store.db import SCHEMA, check_database

MIGRATIONS = Path(__file__).parent / "migrations"


def engine_for(dsn: str) -> Engine:
    """A SQLAlchemy engine on exactly the connection psycopg makes for `dsn`.

    Handing libpq the DSN itself (URL or key=value form) avoids SQLAlchemy reparsing it,
    which would send a key=value DSN to the default database.
    """
    return create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn),
                         poolclass=NullPool)


def _config(dsn: str, **attributes: object) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes.update(dsn=dsn, **attributes)
    return config


def upgrade(dsn: str, *, timescale: str = "auto", reader_role: str = "underdog_reader",
            reader_password: str | None = None) -> str:
    """Migrate to the newest revision (a no-op when already there); return it."""
    check_database(dsn)
    command.upgrade(_config(dsn, timescale=timescale, reader_role=reader_role,
                            reader_password=reader_password), "head")
    return current(dsn) or ""


def head() -> str:
    return ScriptDirectory.from_config(_config("")).get_current_head() or ""


def current(dsn: str) -> str | None:
    """The revision the database is at, or None before the first migration."""
    engine = engine_for(dsn)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table_schema": SCHEMA})
            return context.get_current_revision()
    finally:
        engine.dispose()

"""Alembic environment: run by `underdog.store.migrate`, never with a URL from alembic.ini.

Migrations run under a session advisory lock, so two processes that start at once (the
webserver and the daemon, two test workers) do not race each other.
"""

from alembic import context
from sqlalchemy import text

from underdog.store.db import SCHEMA
from underdog.store.migrate import engine_for

MIGRATION_LOCK = 0x756E646572  # "under": any fixed 64-bit key


def run() -> None:
    config = context.config
    engine = engine_for(config.attributes["dsn"])
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
        conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        conn.commit()
        try:
            context.configure(
                connection=conn,
                version_table_schema=SCHEMA,
                transaction_per_migration=True,
            )
            with context.begin_transaction():
                context.run_migrations(
                    timescale=config.attributes.get("timescale", "auto"),
                    reader_role=config.attributes.get("reader_role", "underdog_reader"),
                    reader_password=config.attributes.get("reader_password"),
                )
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
            conn.commit()
    engine.dispose()


run()

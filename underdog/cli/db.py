"""underdog db: create, upgrade, status, retention."""

from __future__ import annotations

import os

import typer
from rich.table import Table as RichTable

from underdog.cli.common import console, database, when
from underdog.config import get_settings

app = typer.Typer(no_args_is_help=True, help="Databases and migrations.")


@app.command("create")
def db_create() -> None:
    """Create the feature-store database (and Dagster's, from DAGSTER_PG_URL) if missing."""
    from underdog.store.admin import create_database

    targets = [("UNDERDOG_DATABASE_URL", get_settings().dsn)]
    if os.environ.get("DAGSTER_PG_URL"):
        targets.append(("DAGSTER_PG_URL", os.environ["DAGSTER_PG_URL"]))
    for variable, dsn in targets:
        created = create_database(dsn, variable=variable)
        console.print(f"{variable}: {'created' if created else 'exists'}")


@app.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations (idempotent)."""
    from underdog.store import migrate

    settings = get_settings()
    revision = migrate.upgrade(settings.dsn, timescale=settings.timescale,
                               reader_role=settings.reader_role)
    with database() as db:
        backend = "TimescaleDB" if db.is_timescale else "PostgreSQL (no TimescaleDB)"
    console.print(f"database at revision [bold]{revision}[/] on {backend}")


@app.command("status")
def db_status() -> None:
    """Tables: rows, time range, size, chunks and compression (TimescaleDB)."""
    from underdog.store import migrate
    from underdog.store.status import table_status

    settings = get_settings()
    with database() as db:
        rows = table_status(db)
        backend = "TimescaleDB" if db.is_timescale else "PostgreSQL"
    table = RichTable(title=f"underdog @ {migrate.current(settings.dsn)} ({backend})")
    for column in ("table", "rows", "first", "last", "size", "chunks", "compression"):
        table.add_column(column, justify="right" if column in ("rows", "size") else "left")
    for s in rows:
        ratio = f"{s.compression_ratio:.1f}x" if s.compression_ratio else "-"
        chunks = f"{s.chunks} ({s.compressed_chunks} compressed)" if s.chunks is not None else "-"
        table.add_row(s.name, f"{s.rows:,}", when(s.first), when(s.last),
                      f"{s.size_bytes / 1e6:.1f} MB", chunks, ratio)
    console.print(table)


@app.command("retention")
def db_retention() -> None:
    """Enforce each table's retention window now (TimescaleDB: its policy jobs drop whole
    chunks; PostgreSQL: rows are deleted), then drop what Redis held for those rows."""
    import redis

    from underdog.store import retention

    settings = get_settings()
    client = redis.Redis.from_url(settings.redis_url.get_secret_value(),
                                  socket_timeout=settings.redis_timeout_s)
    with database() as db:
        run = retention.apply(db, client, prefix=settings.redis_prefix)
    for name, dropped in sorted(run.dropped.items()):
        console.print(f"{name}: {dropped} {run.unit} dropped (before {when(run.cutoffs[name])})")
    console.print(f"redis: {run.redis_keys} keys deleted")

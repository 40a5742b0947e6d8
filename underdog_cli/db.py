"""underdog db: create, upgrade, status, retention."""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

import typer
from rich.table import Table as RichTable

from underdog.config import Settings, get_settings
from underdog_cli.common import cache, console, database, when

app = typer.Typer(no_args_is_help=True, help="Databases and migrations.")


@app.command("create")
def db_create() -> None:
    """Create the feature-store database (and Dagster's, from DAGSTER_PG_URL) if missing, and
    the logins: the read-only reader, and each database's owner where a DSN names a user
    other than UNDERDOG_ADMIN_DATABASE_URL's (default: UNDERDOG_DATABASE_URL)."""
    from underdog.store.admin import prepare_feature_store, provision

    settings = get_settings()
    targets = [("UNDERDOG_DATABASE_URL", settings.dsn)]
    if os.environ.get("DAGSTER_PG_URL"):
        targets.append(("DAGSTER_PG_URL", os.environ["DAGSTER_PG_URL"]))
    for variable, dsn in targets:
        # Without an admin DSN each database is made on its own server with its own login.
        admin, admin_variable = ((settings.admin_dsn, settings.admin_variable)
                                 if settings.admin_database_url else (dsn, variable))
        for line in provision(admin, dsn, variable=variable, admin_variable=admin_variable):
            console.print(line)
    for line in prepare_feature_store(settings.admin_dsn, settings.dsn,
                                      reader_role=settings.reader_role,
                                      reader_password=reader_password(settings),
                                      timescale=settings.timescale,
                                      admin_variable=settings.admin_variable):
        console.print(line)


def reader_password(settings: Settings) -> str | None:
    """UNDERDOG_READER_PASSWORD, or the password of UNDERDOG_READER_DATABASE_URL when that
    logs in as the reader role."""
    if settings.reader_secret or not settings.reader_dsn:
        return settings.reader_secret
    url = urlsplit(settings.reader_dsn)
    return unquote(url.password) if url.password and url.username == settings.reader_role \
        else None


@app.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations (idempotent)."""
    from underdog.store import migrate

    settings = get_settings()
    revision = migrate.upgrade(settings.dsn, timescale=settings.timescale,
                               reader_role=settings.reader_role,
                               reader_password=reader_password(settings))
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
    chunks; PostgreSQL: rows are deleted); the bar packs of those days are deleted and the
    cached latest values of those tables reloaded from them."""
    from underdog.store import retention

    with database() as db:
        run = retention.apply(db, cache(db))
    for name, dropped in sorted(run.dropped.items()):
        console.print(f"{name}: {dropped} {run.unit} dropped (before {when(run.cutoffs[name])})")
    console.print(f"redis: {run.packs_deleted} bar packs deleted, latest values reloaded")

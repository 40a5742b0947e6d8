"""`underdog`: operate and inspect the feature store (Dagster orchestrates; this operates)."""

from __future__ import annotations

import os
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table as RichTable

from underdog.config import ConfigError, get_settings

app = typer.Typer(no_args_is_help=True, help=__doc__, pretty_exceptions_enable=False)
db_app = typer.Typer(no_args_is_help=True, help="Databases and migrations.")
market_app = typer.Typer(no_args_is_help=True, help="Market data: backfill and read bars.")
app.add_typer(db_app, name="db")
app.add_typer(market_app, name="market")
console = Console()


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(2)


def _day(value: str) -> datetime:
    return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)


def _database():
    from underdog.store.db import Database

    settings = get_settings()
    return Database(settings.dsn, reader_role=settings.reader_role,
                    max_size=settings.pool_max_size)


@db_app.command("create")
def db_create() -> None:
    """Create the feature-store database (and Dagster's, from DAGSTER_PG_URL) if missing."""
    from underdog.store.admin import create_database

    targets = [("UNDERDOG_DATABASE_URL", get_settings().dsn)]
    if os.environ.get("DAGSTER_PG_URL"):
        targets.append(("DAGSTER_PG_URL", os.environ["DAGSTER_PG_URL"]))
    for variable, dsn in targets:
        created = create_database(dsn, variable=variable)
        console.print(f"{variable}: {'created' if created else 'exists'}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations (idempotent)."""
    from underdog.store import migrate

    settings = get_settings()
    revision = migrate.upgrade(settings.dsn, timescale=settings.timescale,
                               reader_role=settings.reader_role)
    with _database() as db:
        backend = "TimescaleDB" if db.is_timescale else "PostgreSQL (no TimescaleDB)"
    console.print(f"database at revision [bold]{revision}[/] on {backend}")


@db_app.command("status")
def db_status() -> None:
    """Tables: rows, time range, size, chunks and compression (TimescaleDB)."""
    from underdog.store import migrate
    from underdog.store.status import table_status

    settings = get_settings()
    with _database() as db:
        rows = table_status(db)
        backend = "TimescaleDB" if db.is_timescale else "PostgreSQL"
    table = RichTable(title=f"underdog @ {migrate.current(settings.dsn)} ({backend})")
    for column in ("table", "rows", "first", "last", "size", "chunks", "compression"):
        table.add_column(column, justify="right" if column in ("rows", "size") else "left")
    for s in rows:
        ratio = f"{s.compression_ratio:.1f}x" if s.compression_ratio else "-"
        chunks = f"{s.chunks} ({s.compressed_chunks} compressed)" if s.chunks is not None else "-"
        table.add_row(s.name, f"{s.rows:,}", _when(s.first), _when(s.last),
                      f"{s.size_bytes / 1e6:.1f} MB", chunks, ratio)
    console.print(table)


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "-"


@db_app.command("retention")
def db_retention() -> None:
    """Delete rows older than each table's retention window (plain PostgreSQL's policy)."""
    with _database() as db, db.connection() as conn, conn.transaction():
        for name, deleted in conn.execute("SELECT * FROM underdog.apply_retention()"):
            console.print(f"{name}: {deleted} rows deleted")


@market_app.command("backfill")
def market_backfill(
    start: str = typer.Option(..., help="first UTC day, YYYY-MM-DD"),
    end: str = typer.Option(..., help="last UTC day (inclusive), YYYY-MM-DD"),
    symbol: list[str] = typer.Option(None, help="symbols (default: UNDERDOG_SYMBOLS)"),  # noqa: B008
    source: str = typer.Option("simulated", help="simulated"),
) -> None:
    """Write M1 bars for whole UTC days, one day per transaction."""
    from rich.progress import track

    from underdog.ingest import backfill_bars

    if source != "simulated":
        _fail(f"source {source!r} is not available yet; use 'simulated'")
    settings = get_settings()
    symbols = [s.upper() for s in symbol] if symbol else settings.symbols
    first, last = _day(start), _day(end)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    total = rejected = 0
    with _database() as db:
        for day in track(days, description="backfilling", console=console):
            result = backfill_bars(db, symbols, day, day + timedelta(days=1),
                                   seed=settings.simulator_seed).result
            total, rejected = total + result.written, rejected + result.rejected
    console.print(f"{total:,} bars written, {rejected:,} rejected to dead_letters")


@market_app.command("bars")
def market_bars(
    symbol: str, start: str, end: str,
    timeframe: str = typer.Option("1m", help="1m, 1h or 1d"),
) -> None:
    """Print bars of [start, end) as CSV."""
    from underdog.store.readers import bars

    with _database() as db:
        frame = bars(db, symbol.upper(), _day(start), _day(end), timeframe)
    frame.to_csv(sys.stdout)


@app.command()
def demo() -> None:
    """Migrate, materialize the asset graph for a few days x 2 symbols, print a summary."""
    os.environ.setdefault("DAGSTER_HOME", str(Path.cwd()))
    db_create()
    db_upgrade()
    # The demo drives Dagster; the core library itself never imports it.
    from underdog_assets.demo import run_demo

    with console.status("materializing the asset graph..."):
        runs = run_demo()
    _print_demo(runs)
    if not all(r.success for r in runs):
        raise typer.Exit(1)


def _print_demo(runs) -> None:
    table = RichTable(title="Dagster runs (see them in `make ui`)")
    for column in ("job", "partition", "result", "checks"):
        table.add_column(column)
    for r in runs:
        passed = sum(r.checks.values())
        table.add_row(r.job, r.partition, "[green]success" if r.success else "[red]failed",
                      f"{passed}/{len(r.checks)} passed")
    console.print(table)
    _print_market()
    db_status()


def _print_market() -> None:
    """Daily bars of the demo days, and each symbol's latest bar through the Redis cache."""
    from underdog.store.cache import LatestCache
    from underdog.store.readers import bars, latest

    settings = get_settings()
    table = RichTable(title="ohlcv_1d (UTC days; the weekend has no bars)")
    for column in ("day", "symbol", "open", "high", "low", "close", "ticks"):
        table.add_column(column, justify="left" if column in ("day", "symbol") else "right")
    with _database() as db:
        cache = LatestCache.from_url(
            settings.redis_url.get_secret_value(), prefix=settings.redis_prefix,
            ttl_s=settings.cache_ttl_s, loader=lambda k, s, src: latest(db, k, s, src),
        )
        for symbol in settings.symbols:
            daily = bars(db, symbol, datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC), "1d")
            for day, row in daily.tail(6).iterrows():
                table.add_row(f"{day:%a %Y-%m-%d}", symbol, f"{row.open:.5f}", f"{row.high:.5f}",
                              f"{row.low:.5f}", f"{row.close:.5f}", f"{row.volume:,}")
        console.print(table)
        for symbol in settings.symbols:
            cache.get("bar", symbol)  # a miss fills the cache, the next read hits
            bar = cache.get("bar", symbol)
            if bar:
                console.print(f"latest {symbol} bar (Redis): {bar['time']:%Y-%m-%d %H:%M} UTC"
                              f" close {bar['close']:.5f}")
        console.print(f"cache: {dict(cache.stats)}")


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        console.print(f"[bold red]configuration error:[/] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()

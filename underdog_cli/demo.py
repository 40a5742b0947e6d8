"""underdog demo: what `make demo` runs."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import typer

from underdog.config import get_settings
from underdog.reference.schema import BAR
from underdog.sources.simulated import STRONG_EDGE
from underdog_cli.common import console, status
from underdog_cli.db import db_create, db_status, db_upgrade


def dagster_url(dsn: str) -> str | None:
    """Dagster's storage beside the feature store: same server, database `<name>_dagster`,
    through psycopg2 (SQLAlchemy's default driver here is psycopg 3, which dagster-postgres
    does not speak). None for a key=value DSN: then DAGSTER_PG_URL must be set."""
    url = urlsplit(dsn)
    if url.scheme not in ("postgresql", "postgres"):
        return None
    name = url.path.lstrip("/") or "postgres"
    return urlunsplit(("postgresql+psycopg2", url.netloc, f"/{name}_dagster", url.query, ""))


def _environment() -> None:
    """What the Dagster resources and dagster.yaml read (EnvVar), from the settings'
    defaults when unset: `underdog demo` works outside `make demo` too. The demo's market has
    the strong planted edge (UNDERDOG_SIMULATOR_EDGE=0 for the plain random walk), so its
    closing table shows whether training learned it."""
    os.environ.setdefault("UNDERDOG_SIMULATOR_EDGE", str(STRONG_EDGE.strength))
    get_settings.cache_clear()
    settings = get_settings()
    os.environ.setdefault("DAGSTER_HOME", str(Path.cwd()))
    os.environ.setdefault("UNDERDOG_DATABASE_URL", settings.dsn)
    os.environ.setdefault("UNDERDOG_REDIS_URL", settings.redis_url.get_secret_value())
    os.environ.setdefault("UNDERDOG_REDIS_PREFIX", settings.redis_prefix)
    storage = dagster_url(settings.dsn)
    if storage:
        os.environ.setdefault("DAGSTER_PG_URL", storage)


def demo() -> None:
    """Migrate, materialize the asset graph for a few days x 2 symbols, print a summary."""
    _environment()
    db_create()
    db_upgrade()
    # The demo drives Dagster; the core library itself never imports it.
    from underdog_cli.demo_runs import run_demo
    from underdog_cli.report import print_demo

    with status.status("materializing the asset graph..."):
        runs = run_demo()
    stream = _demo_stream()  # continues the history: the vectors printed next are its bars'
    print_demo(console, runs)
    db_status()
    if not all(r.success for r in runs) or stream.get("lost"):
        raise typer.Exit(1)


def history_end() -> datetime | None:
    """Where the backfilled bars end (the last bar's close, over the symbols)."""
    from underdog.features.online import last_bar_time
    from underdog.store.db import Database

    settings = get_settings()
    with Database.from_settings(settings) as db:
        ends = [t for t in (last_bar_time(db, s) for s in settings.symbols) if t is not None]
    return max(ends) + BAR if ends else None


def _demo_stream(seconds: float = 5.0) -> dict:
    """A few seconds of the live path: fake MT5 bridge -> streamer -> PostgreSQL + Redis, on
    a replay clock that continues the history from its last bar (the bridge sends the
    simulated ticks of the following minutes, faster than real time)."""
    from underdog_streaming.demo import run_demo as stream_demo

    start = history_end()
    with status.status(f"streaming live ticks from the fake MT5 bridge for {seconds:.0f} s..."):
        result = stream_demo(seconds, replay_from=start)
    clock = f" (replay clock from {start:%Y-%m-%d %H:%M} UTC)" if start else ""
    console.print(
        f"live stream{clock}: {result['sent']:,} ticks sent, {result['written']:,} written, "
        f"{result['rejected']} rejected, {result['lost']} lost; p99 tick->Redis "
        f"{result['redis_p99_ms']} ms, tick->database {result['db_p99_ms']} ms"
    )
    return result



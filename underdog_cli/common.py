"""What every command group shares: the consoles, times, the database and the cache.

`console` is stdout: the data a command was asked for. `status` is stderr: progress,
warnings, notes. Errors: `underdog_cli.errors` (one line on stderr, exit 2).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from underdog.config import get_settings

if TYPE_CHECKING:
    from underdog.store.db import Database
    from underdog.store.online.bar_packs import BarPacks
    from underdog.store.online.cache import LatestCache

# Redirected to a file or a pipe, Rich would cut tables at 80 columns: digits too.
console = Console(width=None if sys.stdout.isatty() else 240)
status = Console(stderr=True)


def when(moment: datetime | None) -> str:
    """A moment as UTC minutes for tables, or '-'."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "-"


def database() -> Database:
    from underdog.store.db import Database

    settings = get_settings()
    return Database.from_settings(settings)


def cache(db: Database) -> LatestCache:
    """The Redis latest-value cache, reading through to `db`."""
    from underdog.store.offline.readers import latest
    from underdog.store.online.cache import LatestCache

    settings = get_settings()
    return LatestCache.from_url(
        settings.redis_url.get_secret_value(), prefix=settings.redis_prefix,
        ttl_s=settings.cache_ttl_s, loader=lambda k, s, src: latest(db, k, s, src),
    )


def bar_packs() -> BarPacks:
    """Whole days of M1 bars through Redis, each checked against the table on read."""
    from underdog.store.online.bar_packs import BarPacks

    settings = get_settings()
    return BarPacks.from_url(settings.redis_url.get_secret_value(), prefix=settings.redis_prefix,
                             ttl_s=settings.cache_ttl_s, timeout_s=settings.redis_timeout_s)


def dagster_instance():
    """The Dagster instance (DAGSTER_HOME, else ./dagster.yaml's folder), or None and why not."""
    home = os.environ.get("DAGSTER_HOME") or (str(Path.cwd()) if Path("dagster.yaml").is_file()
                                              else None)
    if home is None:
        return None, "DAGSTER_HOME is not set"
    os.environ["DAGSTER_HOME"] = home
    try:  # Dagster is the orchestrator's side: imported only here, never by the core
        import dagster as dg

        return dg.DagsterInstance.get(), ""
    except Exception as exc:  # noqa: BLE001 - health reports what it cannot reach
        from underdog.redaction import redact

        return None, f"Dagster instance unavailable: {redact(str(exc)).splitlines()[0]}"

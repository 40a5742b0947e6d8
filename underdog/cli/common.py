"""What every command group shares: the consoles, times, the database and the cache.

`console` is stdout: the data a command was asked for. `status` is stderr: progress,
warnings, notes. Errors: `underdog.cli.errors` (one line on stderr, exit 2).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from underdog.config import ConfigError, get_settings

if TYPE_CHECKING:
    from underdog.store.bar_packs import BarPacks
    from underdog.store.cache import LatestCache
    from underdog.store.db import Database

# Redirected to a file or a pipe, Rich would cut tables at 80 columns: digits too.
console = Console(width=None if sys.stdout.isatty() else 240)
status = Console(stderr=True)


def when(moment: datetime | None) -> str:
    """A moment as UTC minutes for tables, or '-'."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "-"


# NULL: no such role; false: the login user may not SET ROLE to it.
ROLE_MEMBER = """SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s)
                        THEN pg_has_role(%s, 'MEMBER') END"""


def database() -> Database:
    from underdog.store.db import Database

    settings = get_settings()
    check_reader_role(settings.dsn, settings.reader_role)
    return Database(settings.dsn, reader_role=settings.reader_role,
                    max_size=settings.pool_max_size)


def check_reader_role(dsn: str, role: str) -> None:
    """A ConfigError naming UNDERDOG_READER_ROLE if the server has no such role: the reader
    pool would otherwise retry SET ROLE until its 10 s timeout and end in a traceback."""
    from underdog.store.db import connect

    with connect(dsn) as conn:
        [member] = conn.execute(ROLE_MEMBER, (role, role)).fetchone()
    if member is None:
        raise ConfigError(f"UNDERDOG_READER_ROLE: no role {role!r} on the server of "
                          f"UNDERDOG_DATABASE_URL (`underdog db upgrade` creates it)")
    if not member:
        raise ConfigError(f"UNDERDOG_READER_ROLE: the user of UNDERDOG_DATABASE_URL cannot "
                          f"SET ROLE {role!r} (not a member of it)")


def cache(db: Database) -> LatestCache:
    """The Redis latest-value cache, reading through to `db`."""
    from underdog.store.cache import LatestCache
    from underdog.store.readers import latest

    settings = get_settings()
    return LatestCache.from_url(
        settings.redis_url.get_secret_value(), prefix=settings.redis_prefix,
        ttl_s=settings.cache_ttl_s, loader=lambda k, s, src: latest(db, k, s, src),
    )


def bar_packs() -> BarPacks:
    """Whole days of M1 bars through Redis, each checked against the table on read."""
    from underdog.store.bar_packs import BarPacks

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

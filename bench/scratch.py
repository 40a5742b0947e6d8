"""A throwaway database for one benchmark run: created and migrated on the server of
UNDERDOG_DATABASE_URL (or the one given), dropped however the run ends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from underdog.store import migrate
from underdog.store.admin import create_database, drop_database

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432"


def scratch_dsn(name: str, server: str | None = None) -> str:
    """`<name>_<pid>` on `server` (default: UNDERDOG_DATABASE_URL's), with its options: one
    database per run, so runs side by side do not meet."""
    url = server or os.environ.get("UNDERDOG_DATABASE_URL", DEFAULT_SERVER)
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}_{os.getpid()}"))


@contextmanager
def scratch_database(dsn: str, **upgrade: object) -> Iterator[str]:
    """Create + migrate `dsn` (`upgrade`: migrate.upgrade's options); drop it at the end."""
    if not create_database(dsn):  # left over by a killed run with the same pid
        drop_database(dsn)
        create_database(dsn)
    try:
        migrate.upgrade(dsn, **upgrade)
        yield dsn
    finally:
        drop_database(dsn)

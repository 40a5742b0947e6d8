"""Retention on plain PostgreSQL: delete rows past each table's window, then refresh the cache.

`underdog.apply_retention(as_of)` (migration 0001) deletes by `retention_policies`; a cached
latest value whose row it deleted would be served for up to the cache TTL, so every cached
key of the kinds those tables serve is reloaded from the table (`LatestCache.refresh_cached`).
On TimescaleDB the policy jobs drop chunks in the background: there the TTL bounds it.
"""

from __future__ import annotations

from datetime import datetime

from underdog.store.cache import LatestCache
from underdog.store.db import Database
from underdog.store.validation import write_moment


def apply_retention(db: Database, cache: LatestCache | None = None, *,
                    as_of: datetime | None = None) -> dict[str, int]:
    """Rows deleted per table (as of `as_of`, default now); the cache refreshed after."""
    with db.connection() as conn, conn.transaction():
        rows = conn.execute("SELECT * FROM underdog.apply_retention(%s)",
                            (write_moment(as_of),)).fetchall()
    deleted = {name: int(n) for name, n in rows}
    if cache is not None:
        cache.refresh_cached([name for name, n in deleted.items() if n])
    return deleted

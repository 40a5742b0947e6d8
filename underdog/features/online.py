"""The online state vector: on each closed bar, the latest vector into Redis.

It is the offline builder on a one-bar window: the same statement loads the last 600 bars
as warm-up and the facts known at the bar's close, and the same registry functions compute
the features (on arrays: `state_vector.latest_values`), so the online vector equals the
offline row (the parity check measures it). Per bar: one statement to PostgreSQL (after the
reader pool's connection check), one Redis round trip. The bar was just written (the streamer,
a backfill): `update_online` reads it on the primary (`db.primary`), never on a replica that
may not have it yet.
"""

from __future__ import annotations

from datetime import datetime

from underdog.features.registry import FEATURE_NAMES, FEATURE_VERSION
from underdog.features.state_vector import latest_values
from underdog.reference.schema import BAR
from underdog.store.db import Database
from underdog.store.offline import feature_inputs
from underdog.store.online.cache import LatestCache


def last_bar_time(db: Database, symbol: str) -> datetime | None:
    """The start of `symbol`'s newest stored bar (the default bar to update), or None."""
    return feature_inputs.last_bar_time(db, symbol)


def vector_at(db: Database, symbol: str, bar_time: datetime) -> dict | None:
    """The state vector of the bar starting at `bar_time`, from data known at its close."""
    latest = latest_values(db, symbol, bar_time)
    if latest is None:
        return None  # no such bar, or not enough history yet for every feature
    time, values = latest
    return {"symbol": symbol, "time": time, "feature_version": FEATURE_VERSION,
            **dict(zip(FEATURE_NAMES, values.tolist(), strict=True)),
            "available_at": time + BAR}


def update_online(db: Database, cache: LatestCache, symbol: str,
                  bar_time: datetime | None = None) -> dict | None:
    """Compute the vector of `bar_time` (default: the latest bar) and publish it to Redis.
    Reads its own write: on the primary."""
    db = db.primary
    bar_time = bar_time or last_bar_time(db, symbol)
    if bar_time is None:
        return None
    vector = vector_at(db, symbol, bar_time)
    if vector is not None:  # recomputed from the table: it replaces one of the same bar
        cache.put("state", symbol, vector, rewrite=True)
    return vector


def latest_state(cache: LatestCache, symbol: str) -> dict | None:
    """The latest state vector: one Redis round trip, else the `state_vectors` table."""
    return cache.get("state", symbol)

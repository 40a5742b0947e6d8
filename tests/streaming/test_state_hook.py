"""The streamer's bar hook publishes the online state vector of each closed bar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import RedisTarget
from underdog.features.state_vector import training_frame
from underdog.market.backfill import backfill_bars
from underdog.store.db import Database
from underdog.store.offline.readers import bars, latest
from underdog.store.online.cache import LatestCache
from underdog_streaming.hooks import state_vector_hook
from underdog_streaming.roller import ClosedBar

DAY = datetime(2024, 3, 12, tzinfo=UTC)
ON_BOTH_REDIS = True  # every test with `redis_target` also runs on a Redis Cluster


def test_each_closed_bar_publishes_its_bar_and_state(db: Database, redis_prefix: str,
                                                     redis_target: RedisTarget) -> None:
    backfill_bars(db, ["EURUSD"], DAY - timedelta(days=1), DAY + timedelta(hours=10), seed=3)
    cache = LatestCache.from_url(redis_target.url, cluster=redis_target.cluster,
                                 prefix=f"{redis_prefix}:hook",
                                 loader=lambda k, s, src: latest(db, k, s, src))
    cache.clear()
    hook = state_vector_hook(db, cache, "mql5")
    when = DAY + timedelta(hours=9, minutes=59)
    row = bars(db, "EURUSD", when, when + timedelta(minutes=1)).iloc[0]
    hook("EURUSD", ClosedBar("EURUSD", when, row.open, row.high, row.low, row.close,
                             int(row.volume), row.spread))
    state = cache.get("state", "EURUSD")
    assert state["time"] == when
    offline = training_frame(db, "EURUSD", when, when + timedelta(minutes=1)).iloc[0]
    assert state["rsi"] == pytest.approx(offline["rsi"], rel=1e-9)
    assert cache.get("bar", "EURUSD")["close"] == pytest.approx(row.close)

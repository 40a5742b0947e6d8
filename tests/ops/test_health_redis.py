"""`underdog health`'s Redis figures on a single Redis and on a Redis Cluster: a cluster's
memory and keyspace counters are those of all its masters."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import RedisTarget
from underdog.ops.health import redis_status
from underdog.store.online.cache import LatestCache

ON_BOTH_REDIS = True  # every test with `redis_target` also runs on a Redis Cluster
ROW = {"time": datetime(2024, 3, 5, tzinfo=UTC), "close": 1.1}


def kinds_on_every_master(cache: LatestCache) -> list[str]:
    """Kinds whose keys lie on different masters (one kind on a single Redis)."""
    if not cache.cluster:
        return ["bar"]
    chosen: dict[str, str] = {}
    for n in range(200):
        node = cache.client.get_node_from_key(cache.key(f"k{n}", "EURUSD")).name
        chosen.setdefault(node, f"k{n}")
    assert len(chosen) == len(cache.client.get_primaries())
    return list(chosen.values())


def test_hits_and_memory_count_every_master(redis_target: RedisTarget,
                                            redis_prefix: str) -> None:
    cache = LatestCache(redis_target.client(decode=True), prefix=f"{redis_prefix}:health")
    kinds = kinds_on_every_master(cache)
    for kind in kinds:
        cache.put(kind, "EURUSD", ROW)
    before = redis_status(cache.client)
    for kind in kinds:
        assert cache.get(kind, "EURUSD") is not None
    after = redis_status(cache.client)
    cache.clear()
    assert before.up and after.up
    assert after.hits - before.hits >= len(kinds)
    assert after.used_memory > 0

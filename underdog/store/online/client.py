"""The one Redis client factory, and where a key's hash tag goes on Redis Cluster.

`connect` builds a `redis.Redis` on a single server, or redis-py's `RedisCluster` when
`cluster` is on (default: `UNDERDOG_REDIS_CLUSTER`). A cluster spreads keys over its masters
by slot; a script or MULTI on several keys must keep them on one slot, which a hash tag
(`{...}` in the key: only that part is hashed) does. `tag` puts the braces around one segment
of a key in cluster mode only, so that a single Redis keeps today's keys exactly.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

Client = redis.Redis | RedisCluster


def connect(url: str, *, cluster: bool | None = None, decode: bool = True,
            timeout_s: float = 0.25, fail_fast: bool = False) -> Client:
    """A client of `url` whose calls wait at most `timeout_s`.

    `decode`: str replies (off for bytes values: the bar packs). `fail_fast`: no client-side
    retries (redis-py retries for seconds by default, which would stall a hot path).
    """
    if cluster is None:
        from underdog.config import get_settings
        cluster = get_settings().redis_cluster
    options: dict[str, Any] = {"decode_responses": decode, "socket_timeout": timeout_s,
                               "socket_connect_timeout": timeout_s}
    if fail_fast:
        options["retry"] = Retry(NoBackoff(), 0)
    if cluster:
        return RedisCluster.from_url(url, **options)
    return redis.Redis.from_url(url, health_check_interval=30, **options)


def is_cluster(client: Client) -> bool:
    return isinstance(client, RedisCluster)


def decodes(client: Client) -> bool:
    """Whether `client` returns str (decode_responses) rather than bytes."""
    if is_cluster(client):
        return bool(client.get_connection_kwargs().get("decode_responses"))
    return bool(client.connection_pool.connection_kwargs.get("decode_responses"))


def info(client: Client, section: str) -> list[dict[str, Any]]:
    """INFO `section` of each master: one on a single Redis, every master of a cluster (a
    cluster client alone asks only its default node)."""
    if is_cluster(client):
        return list(client.info(section, target_nodes=RedisCluster.PRIMARIES).values())
    return [client.info(section)]


def tag(segment: str, cluster: bool) -> str:
    """`segment` as a key's hash tag on a cluster (keys that share it share a slot), as is
    on a single Redis."""
    return f"{{{segment}}}" if cluster else segment

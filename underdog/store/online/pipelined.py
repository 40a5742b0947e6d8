"""Several newer-wins puts of latest values in one round trip: the streamer's quotes.

The client fails fast (no client-side retries, a short socket timeout): a caller on a hot
path backs off itself rather than wait on Redis. On Redis Cluster the batch goes through
redis-py's cluster pipeline, which sends each node its commands and follows MOVED/ASK; the
keys of one kind share a hash tag (`cache.latest_key`), so that is one node.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from redis.exceptions import NoScriptError

from underdog.store.online.cache import EVENT_FIELD, LatestCache, _encode, event_micros
from underdog.store.online.client import connect

log = logging.getLogger(__name__)


def _resp(args: tuple) -> bytes:
    """One command in the Redis protocol (RESP): redis-py's packer costs ~150 us a call."""
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


class PipelinedCache(LatestCache):
    """`LatestCache` with `put_many`: several newer-wins puts in one round trip.

    It sends `LatestCache`'s own script by its SHA (EVALSHA), the commands packed together
    and written at once on one pooled connection: a redis-py pipeline with a registered
    script first asks SCRIPT EXISTS (a second round trip) and packs in pure Python. After a
    Redis restart (NOSCRIPT) the script is loaded again and the batch retried once.
    """

    def put_many(self, kind: str, rows: dict[str, dict[str, Any]]) -> list[bool] | None:
        """Like `put` for each (symbol, row); whether each was written, None if Redis failed."""
        commands = []
        for symbol, row in rows.items():
            fields = [x for k, v in row.items() for x in (k, _encode(v))]
            commands.append(("EVALSHA", self._put.sha, 1, self.key(kind, symbol), EVENT_FIELD,
                             event_micros(row), self.ttl_s, *fields))
        try:
            try:
                return self._send(commands)
            except NoScriptError:
                self.client.script_load(self._put.script)
                return self._send(commands)
        except redis.RedisError as exc:
            self._count(kind, "error")
            log.debug("cache put_many failed for %s: %s", kind, exc)
            return None

    def _send(self, commands: list[tuple]) -> list[bool]:
        if self.cluster:
            return self._send_to_cluster(commands)
        pool = self.client.connection_pool
        conn = pool.get_connection()
        try:
            conn.send_packed_command([b"".join(map(_resp, commands))], check_health=False)
            replies, error = [], None
            for _ in commands:  # read every reply, even after an error, to stay in step
                try:
                    replies.append(bool(conn.read_response(disconnect_on_error=False)))
                except redis.ResponseError as exc:
                    error = error or exc
            if error is not None:
                raise error
            return replies
        except (redis.ConnectionError, redis.TimeoutError):
            conn.disconnect()
            raise
        finally:
            pool.release(conn)

    def _send_to_cluster(self, commands: list[tuple]) -> list[bool]:
        pipe = self.client.pipeline()
        for command in commands:
            pipe.execute_command(*command)
        return [bool(reply) for reply in pipe.execute()]  # raises the first error


def fast_fail_cache(url: str, *, prefix: str, ttl_s: int, timeout_s: float,
                    cluster: bool | None = None) -> PipelinedCache:
    """A `LatestCache` whose client neither retries nor waits long (redis-py retries 10 times
    by default, seconds in all, which would stall whoever calls it). `cluster`: default
    UNDERDOG_REDIS_CLUSTER."""
    client = connect(url, cluster=cluster, timeout_s=timeout_s, fail_fast=True)
    return PipelinedCache(client, prefix=prefix, ttl_s=ttl_s)

"""Every Redis write goes through underdog/store/online/ (issue 15): no module of the four
packages outside it calls a Redis write method or builds a Redis client of its own.

Read from the source (AST), like the SQL check: a call `<receiver>.<method>(...)` is a Redis
write when the method exists only on Redis clients (`hset`, `evalsha`, `script_load`, ...),
or when it is a name other libraries share (`set`, `delete`, `pipeline`, `transaction`, ...)
called on a receiver named like a Redis client (`client`, `redis`, `pipe`, `*.client`,
`*_client`).
`threading.Event.set`, a Prometheus gauge's `set` or psycopg's `conn.transaction()` are not.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("underdog", "underdog_cli", "underdog_assets", "underdog_streaming")
ONLINE = ROOT / "underdog" / "store" / "online"

# Methods no other library of this project has: a call is a Redis write on any receiver.
REDIS_ONLY = {
    "hset", "hmset", "hsetnx", "hdel", "hincrby", "hincrbyfloat", "setex", "psetex", "setnx",
    "mset", "msetnx", "getdel", "getex", "expire", "pexpire", "expireat",
    "pexpireat", "persist", "evalsha", "eval_ro", "register_script", "script_load",
    "script_flush", "zadd", "zrem", "zremrangebyscore", "xadd", "xtrim", "lpush", "rpush",
    "ltrim", "sadd", "srem", "flushdb", "flushall", "send_packed_command", "incrbyfloat",
}
# Shared names: a Redis write only on a receiver that names a Redis client.
SHARED = {"set", "delete", "eval", "pipeline", "transaction", "publish", "incr", "incrby",
          "decr", "rename", "execute_command", "copy", "restore", "append", "unlink"}
REDIS_RECEIVER = re.compile(r"(^|\.)(\w*client|redis|pipe)$", re.IGNORECASE)
# Building a client: only store/online/client.py does (`connect`).
CLIENT_FACTORIES = {"Redis", "StrictRedis", "RedisCluster", "ConnectionPool"}


def modules() -> list[Path]:
    return [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))
            if ONLINE not in p.parents]


def redis_writes(source: str) -> list[tuple[int, str]]:
    """(line, call) of each Redis write or client construction in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method, receiver = node.func.attr, ast.unparse(node.func.value)
        if (method in REDIS_ONLY
                or (method in SHARED and REDIS_RECEIVER.search(receiver))
                or (method == "from_url" and receiver.split(".")[-1] in CLIENT_FACTORIES)
                or (receiver == "redis" and method in CLIENT_FACTORIES)):
            found.append((node.lineno, f"{receiver}.{method}(...)"))
    return found


def test_no_redis_write_outside_store_online() -> None:
    offenders = {str(p.relative_to(ROOT)): calls for p in modules()
                 if (calls := redis_writes(p.read_text()))}
    assert offenders == {}


def test_the_check_finds_the_writes_it_names() -> None:
    """What the old code did outside store/online: retention deleting packs, the publisher
    loading its script and packing EVALSHA, the streamer building its own client."""
    old = '''
def delete_stale_packs(client, prefix, first_kept):
    return client.delete(*stale)

def put_many(self, commands):
    self.client.script_load(self._put.script)
    conn.send_packed_command([b"".join(map(_resp, commands))], check_health=False)

def fast_fail_cache(url):
    client = redis.Redis.from_url(url, decode_responses=True)
    self.cache.client.hset(key, mapping={})
'''
    assert [call for _, call in redis_writes(old)] == [
        "client.delete(...)", "self.client.script_load(...)", "conn.send_packed_command(...)",
        "redis.Redis.from_url(...)", "self.cache.client.hset(...)"]


def test_the_check_leaves_other_libraries_alone() -> None:
    other = '''
stop.set()
self.metrics.redis_up.set(1)
token = CONTEXT.set({})
with conn.transaction():
    pass
self.publisher.publish(latest)
path.unlink(missing_ok=True)
model.eval()
'''
    assert redis_writes(other) == []

"""Whole UTC days of M1 bars kept in Redis, checked against `ohlcv` on every read.

A pack is one symbol's bars of one UTC day as the native arrays `readers.bars` builds its
frame from, stored with the fingerprint of the rows it was read from: their count and the
sum of a 64-bit hash of each row version's `xmin` (the transaction that wrote it) and `ctid`
(where it lies), prefixed by the server's WAL timeline and a hash of the table's columns. A read
asks PostgreSQL for the fingerprint of each requested day (one indexed statement, no bar
values sent), then takes from Redis only the packs whose fingerprint still matches; any
other day is read from the table, in one statement with its fingerprint, and stored. When
any day needs the table, every day is checked again and read in one REPEATABLE READ
snapshot: the days of one read were all current at one moment.

Why a match means "unchanged": a row version visible now but not when the pack was read
was written by a transaction that committed after that read, so its xid differs from the
xids of every row version the pack saw. 32-bit xids do repeat after 2^32 of them, hence the
ctid: a version cannot lie where the one it replaces lies (vacuum frees that slot only after
the writer commits), so a repeat needs a second transaction whose xid matches the old row's
mod 2^32 to refill its freed slot within the pack's life (`ttl_s`). Any insert, update, delete or
rewrite of the day, by our writers or by hand in psql, changes the multiset of (xmin, ctid)
and so the fingerprint (a 64-bit hash sum: a collision is a 2^-64 event). No trigger and no
write path has to remember to invalidate anything. What changes data without new row
versions is in the fingerprint too: a column dropped, added or renamed (the column hash), a
restore to an earlier point or a failover, after which xids are handed out again (a new
timeline). xids are only comparable within one cluster: keys name the cluster (its system
identifier) and the database (its oid).

Not cached: windows that are not whole UTC days or span more than `max_days`, and days
still open (the streamer rewrites them every minute). TimescaleDB columnstore chunks expose
no `xmin`: such windows are read straight from the table (and counted `uncheckable`).
Redis down or slow: the table is read, counted as `fallback`; nothing raises.

Keys: `<prefix>:v1:bars1m:<origin>:<symbol>:<day>`; on Redis Cluster `<origin>:<symbol>` is
the hash tag (`...:bars1m:{<origin>:<symbol>}:<day>`): the days of one read are fetched in one
MGET, which a cluster serves only from one slot, while symbols spread over the masters.
Retention deletes the packs of days past ohlcv's window (`delete_days_before`).
"""

from __future__ import annotations

import hashlib
import logging
import struct
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import redis

from underdog.redaction import redact
from underdog.store.db import Database
from underdog.store.offline import readers
from underdog.store.online.cache import CACHE_REQUESTS
from underdog.store.online.client import Client, connect, decodes, is_cluster, tag

log = logging.getLogger(__name__)

KIND = "bars1m"
DAY = timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TABLE, MINUTE = readers.TIMEFRAMES["1m"]  # underdog.ohlcv, one-minute bars
COLUMNS = ("time", *readers.BAR_FIELDS)
_DTYPES = {"time": "<i8", "volume": "<i8"}  # the rest float64
# The layout's own hash opens each pack: code that lays columns out otherwise (a rolling
# deploy sharing Redis) reads another's packs as damaged, never as its own columns.
_LAYOUT = ",".join(f"{c}:{_DTYPES.get(c, '<f8')}" for c in COLUMNS)
_MAGIC = hashlib.blake2b(_LAYOUT.encode(), digest_size=8).digest()
_HEADER = struct.Struct("<8sI")  # magic, row count

TIMELINE = ("(CASE WHEN pg_is_in_recovery()"
            " THEN (SELECT timeline_id FROM pg_control_checkpoint())::text"
            " ELSE substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END)")
COLUMNS_HASH = ("(SELECT md5(string_agg(concat_ws(' ', attnum, attname, atttypid, attisdropped),"
                " ',' ORDER BY attnum)) FROM pg_attribute"
                f" WHERE attrelid = '{TABLE}'::regclass AND attnum > 0)")
FINGERPRINT = (f"{TIMELINE} || '/' || {COLUMNS_HASH} || '/' || count(*)::text || ':' || "
               "coalesce(sum(hashtextextended(xmin::text || ctid::text, 0)), 0)::text")
DAY_OF = "(time AT TIME ZONE 'UTC')::date - DATE '1970-01-01'"  # days since the epoch
CHECK_SQL = (f"SELECT {DAY_OF} AS day, {FINGERPRINT} AS fingerprint FROM {TABLE}"
             " WHERE symbol = %s AND time >= %s AND time < %s GROUP BY 1")
READ_SQL = readers.bars_query(TABLE, FINGERPRINT)

Pack = tuple[str, dict[str, np.ndarray]]  # (fingerprint, arrays)
DAMAGED: Pack = ("", {})  # matches no fingerprint ("count:sum")
ORIGIN_SQL = ("SELECT c.system_identifier::text || '.' || d.oid::text"
              " FROM pg_control_system() c, pg_database d WHERE d.datname = current_database()")


def encode(fingerprint: str, arrays: dict[str, np.ndarray]) -> bytes:
    """Fingerprint, NUL, header, then each column's values (little-endian)."""
    n = len(arrays["time"])
    body = b"".join(arrays[c].astype(_DTYPES.get(c, "<f8"), copy=False).tobytes()
                    for c in COLUMNS)
    return fingerprint.encode() + b"\0" + _HEADER.pack(_MAGIC, n) + body


def decode(raw: bytes | None) -> Pack | None:
    """(fingerprint, arrays) of a stored pack; None for a missing or malformed value."""
    if not raw or b"\0" not in raw:
        return None
    head, _, rest = raw.partition(b"\0")
    if len(rest) < _HEADER.size:
        return None
    magic, n = _HEADER.unpack_from(rest)
    if magic != _MAGIC or len(rest) != _HEADER.size + 8 * n * len(COLUMNS):
        return None
    # A writable copy: callers may modify the frame, as they may the one `readers.bars` gives.
    values = np.frombuffer(bytearray(rest[_HEADER.size:]), dtype="<f8").reshape(len(COLUMNS), n)
    arrays = {c: values[i].view(_DTYPES.get(c, "<f8")) for i, c in enumerate(COLUMNS)}
    return head.decode("ascii", "replace"), arrays


def whole_days(start: datetime, end: datetime) -> range | None:
    """Day numbers (days since 1970-01-01 UTC) of [start, end), or None if not whole days."""
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        return None
    first, last = start - EPOCH, end - EPOCH
    if first % DAY or last % DAY:  # exact to the microsecond
        return None
    return range(first // DAY, last // DAY)


def day_start(day: int) -> datetime:
    return EPOCH + day * DAY


class BarPacks:
    """Read whole days of M1 bars through Redis; `readers.bars` for anything else."""

    def __init__(self, client: Client, *, prefix: str = "underdog", ttl_s: int = 3600,
                 max_days: int = 31):
        if decodes(client):
            raise ValueError("BarPacks stores bytes: its Redis client needs decode_responses off")
        self.client = client
        self.cluster = is_cluster(client)
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.max_days = max_days
        self.stats: Counter[str] = Counter()
        self._origins: dict[str, str | None] = {}

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 0.25, cluster: bool | None = None,
                 **kwargs: Any) -> BarPacks:
        """On `url`; a Redis Cluster when `cluster` (default: UNDERDOG_REDIS_CLUSTER)."""
        return cls(connect(url, cluster=cluster, decode=False, timeout_s=timeout_s), **kwargs)

    def key(self, origin: str, symbol: str, day: int) -> str:
        packs = tag(f"{origin}:{symbol}", self.cluster)
        return f"{self.prefix}:v1:{KIND}:{packs}:{day_start(day).date().isoformat()}"

    def origin(self, db: Database) -> str | None:
        """Which database packs come from: the cluster's system identifier and the database's
        oid, so that two clusters behind one Redis and prefix never compare fingerprints.
        None (packs unused) when the server hides its identity from the reader role."""
        if db.dsn not in self._origins:
            try:
                with db.reader() as conn:
                    self._origins[db.dsn] = conn.execute(ORIGIN_SQL).fetchone()[0]
            except psycopg.errors.InsufficientPrivilege as exc:
                log.warning("bar packs unused on %s: %s", redact(db.dsn), str(exc).strip())
                self._origins[db.dsn] = None
        return self._origins[db.dsn]

    def _count(self, result: str, n: int = 1) -> None:
        self.stats[result] += n
        CACHE_REQUESTS.labels(KIND, result).inc(n)

    def bars(self, db: Database, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
        """The frame `readers.bars(db, symbol, start, end)` returns, whole days from Redis."""
        days = whole_days(start, end)
        if days is None or len(days) > self.max_days or self.origin(db) is None:
            return readers.bars(db, symbol, start, end)
        try:
            arrays = self._days(db, symbol, start, end)
        except psycopg.errors.InvalidColumnReference:  # TimescaleDB columnstore: no xmin
            self._count("uncheckable")
            return readers.bars(db, symbol, start, end)
        except psycopg.errors.InsufficientPrivilege as exc:  # a managed server's revocations
            self._count("uncheckable")
            log.warning("bar packs cannot check %s: %s", symbol, str(exc).strip())
            return readers.bars(db, symbol, start, end)
        return readers.bar_frame(arrays, MINUTE)

    def _days(self, db: Database, symbol: str, start: datetime,
              end: datetime) -> dict[str, np.ndarray]:
        origin = self.origin(db)
        # TimescaleDB refuses xmin in any plan that holds a compressed chunk, and a prepared
        # statement's generic plan holds every chunk: plan each check for its own days.
        prepare = not db.is_timescale
        with db.reader() as conn:
            current = _fingerprints(conn, symbol, start, end, prepare)  # days with rows only
            packs = self._stored(origin, symbol, sorted(current))
            if packs is not None and all(packs.get(d, ("",))[0] == current[d] for d in current):
                self._count("hit", len(current))
                return _concat([packs[d][1] for d in sorted(current)])
            # Some day comes from the table. Check again and read in one snapshot, so that the
            # days returned together were all current at one moment (a backfill rewriting
            # two days at once is never returned half old, half new).
            with _snapshot(conn):
                parts, storing = [], packs is not None
                for day, fingerprint in sorted(
                        _fingerprints(conn, symbol, start, end, prepare).items()):
                    pack = packs.get(day) if packs is not None else None
                    if pack is not None and pack[0] == fingerprint:
                        self._count("hit")
                        parts.append(pack[1])
                        continue
                    if packs is not None:
                        self._count("miss" if pack is None else "stale")
                    key = self.key(origin, symbol, day) if storing else None
                    # storing turns False when Redis failed
                    arrays, storing = self._read(conn, symbol, day, key, prepare)
                    parts.append(arrays)
        return _concat(parts)

    def _stored(self, origin: str, symbol: str,
                days: list[int]) -> dict[int, Pack] | None:
        """The stored packs of `days` (a damaged one never matches a fingerprint); None when
        Redis cannot be read."""
        if not days:
            return {}
        try:
            values = self.client.mget([self.key(origin, symbol, d) for d in days])
        except redis.RedisError as exc:
            self._count("fallback", len(days))
            log.warning("bar packs unavailable (%s); reading %s from the database", exc, symbol)
            return None
        return {d: decode(v) or DAMAGED for d, v in zip(days, values, strict=True) if v}

    def _read(self, conn: psycopg.Connection, symbol: str, day: int,
              key: str | None, prepare: bool = True) -> tuple[dict[str, np.ndarray], bool]:
        """One day from the table with the fingerprint of exactly those rows (one statement,
        one snapshot), stored under `key` (unless None) once the day has closed; and whether
        Redis may still be asked (False after a failed store: no more timeouts to wait)."""
        start = day_start(day)
        row = conn.execute(READ_SQL, (symbol, start, start + DAY), binary=True,
                           prepare=prepare).fetchone()
        arrays = readers.bar_arrays(row[1:], TABLE)
        if key is None or start + DAY > datetime.now(UTC):
            return arrays, key is not None
        return arrays, self._put(key, encode(row[0], arrays))

    def _put(self, key: str, value: bytes) -> bool:
        try:
            self.client.set(key, value, ex=self.ttl_s)
        except redis.RedisError as exc:
            self._count("error")
            log.warning("bar pack put failed for %s: %s", key, exc)
            return False
        return True


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Days in order, so their concatenation is sorted by time."""
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return readers.bar_arrays([None] * (len(COLUMNS) + 1), TABLE)  # + price_scale
    return {c: np.concatenate([p[c] for p in parts]) for c in COLUMNS}


def _fingerprints(conn: psycopg.Connection, symbol: str, start: datetime,
                  end: datetime, prepare: bool = True) -> dict[int, str]:
    return dict(conn.execute(CHECK_SQL, (symbol, start, end), prepare=prepare).fetchall())


@contextmanager
def _snapshot(conn: psycopg.Connection) -> Iterator[None]:
    """One REPEATABLE READ transaction on an autocommit connection: one snapshot throughout."""
    before = conn.isolation_level
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        with conn.transaction():
            yield
    finally:
        conn.isolation_level = before


def delete_days_before(client: Client, prefix: str, first_kept: date) -> int:
    """Delete the packs (under `prefix`) of days before `first_kept`; how many. Redis down:
    0, logged (the packs expire with their TTL, and a read never uses a day the table lacks)."""
    try:
        stale = _packs_before(client, prefix, first_kept)
        return client.delete(*stale) if stale else 0
    except redis.RedisError as exc:
        log.warning("retention could not delete bar packs (%s): they expire with their TTL",
                    exc)
        return 0


def _packs_before(client: Client, prefix: str, first_kept: date) -> list[bytes | str]:
    """Pack keys (`<prefix>:v1:bars1m:...:<day>`, tagged or not) of days before `first_kept`."""
    stale = []
    for key in client.scan_iter(match=f"{prefix}:v1:{KIND}:*", count=1000):
        name = key.decode("ascii", "replace") if isinstance(key, bytes) else key
        day = name.rsplit(":", 1)[-1]
        try:
            if date.fromisoformat(day) < first_kept:
                stale.append(key)
        except ValueError:
            continue  # not a pack key
    return stale

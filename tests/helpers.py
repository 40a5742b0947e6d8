"""Small helpers shared by tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
import redis

from underdog.config import get_settings
from underdog.redaction import forget_secrets
from underdog.store.db import Database

DAY = datetime(2024, 3, 5, tzinfo=UTC)  # a Tuesday: the market is open all day


def bar_frame(n: int = 10, *, symbol: str = "EURUSD", start: datetime = DAY,
              close: float = 1.1) -> pd.DataFrame:
    """n consecutive valid M1 bars (prices on a decimal grid, as a source's are: bars store
    them as integers and a scale, and refuse a price like 1.1 - 0.001 = 1.0990000000000002)."""
    times = pd.date_range(start, periods=n, freq="min", tz="UTC")
    return pd.DataFrame({
        "symbol": symbol, "time": times, "open": close, "high": round(close + 0.001, 10),
        "low": round(close - 0.001, 10), "close": close, "volume": 10, "spread": 0.00012,
        "source": "test",
    })


def table_checksum(db: Database, table: str) -> tuple[int, str]:
    """(rows, md5 of every row in key order): equal iff the contents are equal."""
    with db.connection() as conn:
        return conn.execute(
            f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
            f" FROM underdog.{table} t"
        ).fetchone()


def dead_letters(db: Database) -> list[tuple[str, str, dict]]:
    with db.connection() as conn:
        return conn.execute(
            "SELECT target_table, reason, payload FROM underdog.dead_letters ORDER BY id"
        ).fetchall()


def free_port() -> int:
    """A local port nobody listens on now (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def delete_keys(redis_url: str, prefix: str) -> None:
    """Delete every Redis key under `prefix:`."""
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


class QuietHandler(BaseHTTPRequestHandler):
    """A test server's request handler: no access log (pytest shows failures), one reply."""

    def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    """Run a local test HTTP server on a thread for the block's duration."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def empty_reads(client: redis.Redis, key: str) -> Iterator[list[int]]:
    """Poll `key` from another thread while the block runs; the list counts the reads that
    found it missing (a writer that deletes, then writes, leaves a moment with nothing)."""
    empty: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            if not client.exists(key):
                empty.append(1)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        yield empty
    finally:
        stop.set()
        reader.join()


@contextmanager
def cli_settings(monkeypatch: pytest.MonkeyPatch, *, dsn: str, redis_url: str, prefix: str,
                 **more: str) -> Iterator[None]:
    """The settings a command reads, pointed at the test services: UNDERDOG_DATABASE_URL,
    _REDIS_URL, _REDIS_PREFIX and UNDERDOG_<NAME> for each of `more`; cached settings and
    secrets are read again inside the block and after it."""
    values = {"DATABASE_URL": dsn, "REDIS_URL": redis_url, "REDIS_PREFIX": prefix, **more}
    for name, value in values.items():
        monkeypatch.setenv(f"UNDERDOG_{name}", value)
    get_settings.cache_clear()
    forget_secrets()
    try:
        yield
    finally:
        get_settings.cache_clear()

"""What a hot-standby run is judged by, shared by tests/streaming/test_standby.py and
bench/stream.py --standby: ticks stored (each once), the ticks table's unique key, the bars
against the stored ticks, and the Redis latest quotes sampled while the streamers run."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd
import psycopg

from underdog.market.bars import bars_from_ticks
from underdog.store.online.cache import LatestCache


def frame(dsn: str, query: str) -> pd.DataFrame:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(query)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def stored_ticks(dsn: str) -> Counter:
    """Every row of `ticks` as (symbol, time_ms, bid, ask), counted."""
    rows = frame(dsn, "SELECT symbol, (extract(epoch FROM time) * 1000)::bigint AS ms,"
                      " bid::float8 AS bid, ask::float8 AS ask FROM underdog.tick_values")
    return Counter((s, int(t), round(b, 6), round(a, 6))
                   for s, t, b, a in rows.itertuples(index=False))


def unique_keys(dsn: str) -> list[list[str]]:
    """The columns of each unique index on `ticks` (the key a tick is idempotent on)."""
    query = ("SELECT array_agg(a.attname ORDER BY k.n) FROM pg_index i"
             " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)"
             " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
             " WHERE i.indrelid = 'underdog.ticks'::regclass AND i.indisunique"
             " GROUP BY i.indexrelid")
    with psycopg.connect(dsn) as conn:
        return [list(r[0]) for r in conn.execute(query).fetchall()]


def bar_mismatches(dsn: str, symbols: Sequence[str]) -> list[str]:
    """Symbols whose stored bars differ from the bars of their stored ticks (times and
    volumes exactly, prices and spread to 1e-9 relative)."""
    ticks = frame(dsn, "SELECT symbol, time, bid::float8 AS bid, ask::float8 AS ask FROM"
                       " underdog.tick_values ORDER BY symbol, time, seq")
    bars = frame(dsn, "SELECT symbol, time, open, high, low, close, volume, spread FROM"
                      " underdog.ohlcv_values ORDER BY symbol, time")
    wrong = []
    for symbol in symbols:
        want = bars_from_ticks(ticks[ticks["symbol"] == symbol].drop(columns="symbol"),
                               symbol=symbol).reset_index(drop=True)
        got = bars[bars["symbol"] == symbol].reset_index(drop=True)
        same = (len(got) == len(want) and list(got["time"]) == list(want["time"])
                and list(got["volume"]) == list(want["volume"]) and all(
                    np.allclose(got[c].astype(float), want[c].astype(float), rtol=1e-9, atol=0)
                    for c in ("open", "high", "low", "close", "spread")))
        if not same:
            wrong.append(symbol)
    return wrong


class QuoteSampler(threading.Thread):
    """The Redis latest quote time of each symbol, every 50 ms, with the wall time."""

    def __init__(self, redis_url: str, prefix: str, symbols: Sequence[str]) -> None:
        super().__init__(daemon=True)
        self.cache = LatestCache.from_url(redis_url, prefix=prefix)
        self.symbols = list(symbols)
        self.samples: list[tuple[float, str, datetime]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            for symbol in self.symbols:
                row = self.cache.get("quote", symbol)
                if row is not None:
                    self.samples.append((time.monotonic(), symbol, row["time"]))

    def stalls(self, killed_at: float) -> list[str]:
        """Why a symbol's latest quote failed: back in time, or not newer after the kill."""
        found = []
        for symbol in self.symbols:
            times = [t for _, s, t in self.samples if s == symbol]
            before = [t for at, s, t in self.samples if s == symbol and at <= killed_at]
            after = [t for at, s, t in self.samples if s == symbol and at > killed_at + 0.5]
            if times != sorted(times):
                found.append(f"{symbol}: the latest quote went back in time")
            elif not after or (before and max(after) <= max(before)):
                found.append(f"{symbol}: the latest quote stopped at the kill")
        return found

"""Benchmark of the cache refresh after a rewrite, against the delete-then-put it replaced.

A throwaway database (created, migrated, dropped) with one day of simulated M1 bars for two
symbols, and a throwaway Redis prefix. Side by side, each repeated `--calls` times while a
second thread reads the keys in a loop:
- ours: `LatestCache.refresh_tables(["ohlcv"], symbols)`: the latest bar and state vector of
  each symbol read from the table under WATCH, all keys replaced in one MULTI;
- baseline: what macro and sentiment did before: DEL of each key, then a newer-wins put of
  the row read from the table (two round trips per key; a reader in between finds nothing).
Reported: latency p50/p99 per call alone and with the reader (which competes for the GIL),
and how many of the reader's reads found a key empty.
Last line of output: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scratch import scratch_database, scratch_dsn  # noqa: E402

from underdog.market.backfill import backfill_bars  # noqa: E402
from underdog.store.db import Database  # noqa: E402
from underdog.store.offline.readers import latest  # noqa: E402
from underdog.store.online.cache import LatestCache  # noqa: E402

SYMBOLS = ["EURUSD", "GBPUSD"]
DAY = datetime(2024, 3, 5, tzinfo=UTC)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.array(samples) * 1e3
    return round(float(np.percentile(ms, 50)), 3), round(float(np.percentile(ms, 99)), 3)


def delete_then_put(db: Database, cache: LatestCache) -> None:
    for symbol in SYMBOLS:
        row = latest(db, "bar", symbol)
        cache.invalidate("bar", [symbol])
        cache.put("bar", symbol, row)


def latency(work, calls: int) -> dict:
    """Latency of `work()` alone (no concurrent reader taking the GIL)."""
    samples = []
    for _ in range(calls):
        began = time.perf_counter()
        work()
        samples.append(time.perf_counter() - began)
    p50, p99 = percentiles(samples)
    return {"alone_p50_ms": p50, "alone_p99_ms": p99}


def timed(work, cache: LatestCache, calls: int) -> dict:
    """Latency of `work()` and the empty reads a concurrent reader saw meanwhile."""
    keys = [cache.key("bar", s) for s in SYMBOLS]
    stop, reads, empty = threading.Event(), [0], [0]
    work()  # the keys exist before the reader starts: any empty read is the method's

    def read() -> None:
        while not stop.is_set():
            for key in keys:
                reads[0] += 1
                empty[0] += not cache.client.exists(key)

    reader = threading.Thread(target=read)
    reader.start()
    samples = []
    try:
        for _ in range(calls):
            began = time.perf_counter()
            work()
            samples.append(time.perf_counter() - began)
    finally:
        stop.set()
        reader.join()
    p50, p99 = percentiles(samples)
    return {"p50_ms": p50, "p99_ms": p99, "reads": reads[0], "empty_reads": empty[0]}


def run(dsn: str, redis_url: str, calls: int) -> dict:
    with Database(dsn) as db:
        backfill_bars(db, SYMBOLS, DAY, DAY + timedelta(days=1), seed=7)
        cache = LatestCache.from_url(redis_url, prefix=f"underdog_bench_refresh_{os.getpid()}",
                                     loader=lambda kind, key, source: latest(db, kind, key,
                                                                             source))
        try:
            refresh = lambda: cache.refresh_tables(["ohlcv"], SYMBOLS)  # noqa: E731
            baseline = lambda: delete_then_put(db, cache)  # noqa: E731
            ours = {**latency(refresh, calls), **timed(refresh, cache, calls)}
            theirs = {**latency(baseline, calls), **timed(baseline, cache, calls)}
        finally:
            cache.clear()
    return {"bench": "cache_refresh", "calls": calls, "keys_per_call_ours": 2 * len(SYMBOLS),
            "keys_per_call_baseline": len(SYMBOLS), "refresh": ours,
            "baseline_delete_then_put": theirs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="calls timed per method")
    args = parser.parse_args()
    with scratch_database(scratch_dsn("underdog_bench_refresh")) as dsn:
        result = run(dsn, os.environ.get("UNDERDOG_REDIS_URL", "redis://127.0.0.1:6379/0"),
                     args.calls)
    for name in ("refresh", "baseline_delete_then_put"):
        r = result[name]
        print(f"{name:26} alone p50 {r['alone_p50_ms']} / p99 {r['alone_p99_ms']} ms; with a"
              f" reader p50 {r['p50_ms']} / p99 {r['p99_ms']} ms, empty reads"
              f" {r['empty_reads']} of {r['reads']}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

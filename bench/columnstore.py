"""Rewriting and reading days in TimescaleDB's columnstore, against the same days in the rowstore.

Runs in a throwaway database `underdog_bench_cs_<pid>` on the TimescaleDB server that
UNDERDOG_BENCH_TIMESCALE names (default: ../shared/timescaledb/start.sh's, port 5544), migrated
as usual; dropped at the end. The days of every other chunk are compressed (`compress_chunk`,
what the columnstore policy runs; chunks of 7 days), the others stay in the rowstore.
Measured per symbol-day of M1 bars:
  rewrite       replace_window of one day (DELETE the day + binary COPY, one transaction, as a
                backfill rerun): a columnstore day (ours) vs a rowstore day (the baseline);
                then the recompression of the rewritten chunk (what the policy does next)
  upsert        writers.upsert of the day's bars (a correction) into each kind of chunk
  read          BarPacks.bars of one day: on a columnstore day it is the fallback path (no
                xmin to check a pack against: the table is read, counted `uncheckable`), vs a
                rowstore day served from its pack, vs readers.bars straight from the table

Progress goes to stdout; the last line is one JSON object.

    .venv/bin/python bench/columnstore.py [--days 8] [--repeat 5] [--symbols 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

from underdog.market.backfill import simulated_bars
from underdog.store.db import Database
from underdog.store.offline import readers
from underdog.store.offline.writers import replace_window, upsert
from underdog.store.online.bar_packs import BarPacks
from underdog.store.tables import OHLCV

sys.path.insert(0, str(Path(__file__).parent))
from scratch import scratch_database, scratch_dsn  # noqa: E402

SERVER = os.environ.get("UNDERDOG_BENCH_TIMESCALE", "postgresql://postgres@127.0.0.1:5544")
REDIS_URL = os.environ.get("UNDERDOG_REDIS_URL", "redis://127.0.0.1:6379/0")
SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY", "AUDUSD")
# Mondays to Thursdays of two weeks (full trading days): past the 30-day columnstore window,
# inside the 2-year retention window.
WEEKS = (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 8, tzinfo=UTC))
DAY = timedelta(days=1)


def say(message: str) -> None:
    print(message, flush=True)


def ms(fn: Callable[[], object], repeat: int, before: Callable[[], object] | None = None
       ) -> list[float]:
    out = []
    for _ in range(repeat):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def summary(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(samples), 2), "max_ms": round(max(samples), 2)}


def chunk_of(db: Database, day: datetime) -> str:
    with db.connection() as conn:
        return conn.execute(
            "SELECT format('%%I.%%I', chunk_schema, chunk_name)"
            " FROM timescaledb_information.chunks WHERE hypertable_name = 'ohlcv'"
            " AND range_start <= %s AND range_end > %s", (day, day)).fetchone()[0]


def compress(db: Database, day: datetime) -> None:
    with db.connection() as conn, conn.transaction():
        conn.execute("SELECT compress_chunk(%s::regclass, if_not_compressed => true)",
                     (chunk_of(db, day),))


def is_compressed(db: Database, day: datetime) -> bool:
    with db.connection() as conn:
        return conn.execute(
            "SELECT is_compressed FROM timescaledb_information.chunks WHERE hypertable_name ="
            " 'ohlcv' AND range_start <= %s AND range_end > %s", (day, day)).fetchone()[0]


def alternate_chunks(db: Database, days: list[datetime]) -> tuple[list, list]:
    """(days of every other chunk, days of the others): ohlcv's chunks are 7 days (revision
    0012), so neighbouring days share one and cannot be split between the two kinds."""
    by_chunk: dict[str, list[datetime]] = {}
    for day in days:
        by_chunk.setdefault(chunk_of(db, day), []).append(day)
    groups = list(by_chunk.values())
    return ([d for g in groups[::2] for d in g], [d for g in groups[1::2] for d in g])


def run(db: Database, days: list[datetime], symbols: list[str], repeat: int) -> dict:
    bars = simulated_bars(symbols, days[0], days[-1] + DAY, seed=1)
    replace_window(db, OHLCV, bars, start=days[0], end=days[-1] + DAY, source="bench")
    columnstore, rowstore = alternate_chunks(db, days)
    for day in columnstore:
        compress(db, day)
    assert all(is_compressed(db, d) for d in columnstore)
    assert not any(is_compressed(db, d) for d in rowstore)
    per_day = len(bars) // len(days)
    say(f"{len(bars):,} bars, {len(days)} days x {len(symbols)} symbols: {len(columnstore)}"
        " days compressed, the others in the rowstore")

    def day_rows(day: datetime, seed: int):
        return simulated_bars(symbols, day, day + DAY, seed=seed)

    frames = {d: day_rows(d, 2) for d in days}
    out: dict[str, dict] = {"rows_per_day": per_day}
    for kind, pool in (("columnstore", columnstore), ("rowstore", rowstore)):
        day = pool[0]
        rewrite = ms(lambda d=day: replace_window(db, OHLCV, frames[d], start=d, end=d + DAY,
                                                  source="bench"), repeat,
                     before=(lambda d=day: compress(db, d)) if kind == "columnstore" else None)
        fix = ms(lambda d=day: upsert(db, OHLCV, frames[d], source="bench"), repeat,
                 before=(lambda d=day: compress(db, d)) if kind == "columnstore" else None)
        out[f"rewrite_{kind}"] = summary(rewrite)
        out[f"upsert_{kind}"] = summary(fix)
        say(f"rewrite one {kind} day: p50 {out[f'rewrite_{kind}']['p50_ms']} ms;"
            f" upsert it: p50 {out[f'upsert_{kind}']['p50_ms']} ms")
    replace_window(db, OHLCV, frames[columnstore[0]], start=columnstore[0],
                   end=columnstore[0] + DAY, source="bench")
    out["recompress_after_rewrite"] = summary(ms(lambda: compress(db, columnstore[0]), 1))
    assert is_compressed(db, columnstore[0])

    packs = BarPacks(redis.Redis.from_url(REDIS_URL), prefix=f"underdog_bench_cs_{os.getpid()}")
    try:
        symbol, reads = symbols[0], max(repeat * 20, 50)
        for kind, day in (("columnstore", columnstore[1]), ("rowstore", rowstore[1])):
            packs.bars(db, symbol, day, day + DAY)  # a rowstore day's pack is stored here
            out[f"read_packs_{kind}"] = summary(ms(lambda d=day: packs.bars(db, symbol, d,
                                                                            d + DAY), reads))
            out[f"read_table_{kind}"] = summary(ms(lambda d=day: readers.bars(db, symbol, d,
                                                                              d + DAY), reads))
            say(f"read one {kind} day: bar packs p50 {out[f'read_packs_{kind}']['p50_ms']} ms,"
                f" table p50 {out[f'read_table_{kind}']['p50_ms']} ms")
        out["pack_results"] = dict(packs.stats)
    finally:
        keys = list(packs.client.scan_iter(match=f"{packs.prefix}:*"))
        if keys:
            packs.client.delete(*keys)
        packs.client.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=8, help="trading days (even, <= 8)")
    parser.add_argument("--symbols", type=int, default=2, help=f"<= {len(SYMBOLS)}")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    days = [week + d * DAY for week in WEEKS for d in range(4)][:args.days]
    with scratch_database(scratch_dsn("underdog_bench_cs", SERVER), timescale="on") as dsn, \
            Database(dsn) as db:
        with db.connection() as conn, conn.transaction():  # the bench compresses itself
            conn.execute("SELECT alter_job(job_id, scheduled => false)"
                         " FROM timescaledb_information.jobs"
                         " WHERE hypertable_schema = 'underdog'")
        result = run(db, days, list(SYMBOLS[:args.symbols]), args.repeat)
    ratio = result["rewrite_columnstore"]["p50_ms"] / result["rewrite_rowstore"]["p50_ms"]
    say(f"rewriting a columnstore day costs {ratio:.2f}x a rowstore day")
    print(json.dumps({"bench": "columnstore", "server": "TimescaleDB", "days": len(days),
                      "symbols": args.symbols, "rewrite_cost_ratio": round(ratio, 2),
                      **result}))


if __name__ == "__main__":
    main()

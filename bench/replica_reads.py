"""Benchmark of the three kinds of read with a streaming standby: what freshness costs.

Starts a primary and a standby of its own (tests/replica/cluster.py: initdb, pg_basebackup
-R, spare ports, removed at the end), migrates the primary, writes two hours of bars, then
times `latest(db, "bar", symbol)` (one borrow each) on:
- replica: `db.reader()`, the standby as it is;
- fresh: `db.fresh_reader()`, the standby once it has replayed the primary's current LSN
  (one extra statement on the primary and one on the standby per read);
- primary: `db.primary_reader()`;
in interleaved rounds (median per kind), idle and then with a writer upserting one bar
every `--write-every-ms` on the primary, where fresh reads also wait for replay (their p99
and how many were refused). Last line of output: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import bar_frame  # noqa: E402
from tests.replica.cluster import ReplicaPair, pg_bin  # noqa: E402
from underdog.market.backfill import backfill_bars  # noqa: E402
from underdog.store import migrate  # noqa: E402
from underdog.store.admin import create_database  # noqa: E402
from underdog.store.db import Database  # noqa: E402
from underdog.store.offline.readers import latest_on  # noqa: E402
from underdog.store.offline.writers import upsert  # noqa: E402
from underdog.store.replica import ReplicaLagError  # noqa: E402
from underdog.store.tables import OHLCV  # noqa: E402

DAY = datetime(2024, 3, 5, tzinfo=UTC)


def kinds(db: Database) -> dict[str, object]:
    return {"replica": db.reader, "fresh": db.fresh_reader, "primary": db.primary_reader}


def read_times_us(borrow, reads: int) -> tuple[list[float], int]:
    """Per-read microseconds of `reads` latest-bar reads, and how many were refused."""
    out, refused = [], 0
    for _ in range(reads):
        start = time.perf_counter()
        try:
            connection: AbstractContextManager = borrow()
            with connection as conn:
                latest_on(conn, "bar", "EURUSD")
        except ReplicaLagError:
            refused += 1
        out.append((time.perf_counter() - start) * 1e6)
    return out, refused


def interleaved(db: Database, reads: int, rounds: int) -> dict[str, dict[str, float]]:
    times: dict[str, list[float]] = {name: [] for name in kinds(db)}
    refusals = dict.fromkeys(times, 0)
    for borrow in kinds(db).values():
        read_times_us(borrow, 50)  # warm up
    for _ in range(rounds):
        for name, borrow in kinds(db).items():
            got, refused = read_times_us(borrow, reads)
            times[name] += got
            refusals[name] += refused
    return {name: {"p50_us": round(statistics.median(t), 1),
                   "p99_us": round(statistics.quantiles(t, n=100)[98], 1),
                   "refused": refusals[name]} for name, t in times.items()}


def writer(db: Database, stop: threading.Event, every_s: float) -> int:
    """Upsert one new bar every `every_s` until `stop`; the number written."""
    n = 0
    while not stop.wait(every_s):
        upsert(db, OHLCV, bar_frame(1, start=DAY + timedelta(hours=2, minutes=n % 1000)),
               source="bench")
        n += 1
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=300, help="reads per kind and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--write-every-ms", type=float, default=20.0)
    args = parser.parse_args()
    folder = pg_bin()
    if folder is None:
        sys.exit("no PostgreSQL server binaries (initdb, pg_basebackup): set PGBIN")
    pair = ReplicaPair(folder)
    try:
        pair.start()
        primary = pair.dsn(pair.primary_port, "underdog")
        create_database(primary)
        migrate.upgrade(primary)
        reader = pair.dsn(pair.standby_port, "underdog", "underdog_reader")
        with Database(primary, reader_dsn=reader, max_size=2, max_lag_s=5.0) as db:
            backfill_bars(db, ["EURUSD"], DAY, DAY + timedelta(hours=2), seed=3)
            db.replica_lag(within_s=30.0)
            idle = interleaved(db, args.reads, args.rounds)
            stop = threading.Event()
            written: list[int] = []
            thread = threading.Thread(target=lambda: written.append(
                writer(db, stop, args.write_every_ms / 1000)))
            thread.start()
            try:
                loaded = interleaved(db, args.reads, args.rounds)
            finally:
                stop.set()
                thread.join()
    finally:
        pair.stop()
    for label, result in (("idle", idle), ("writing", loaded)):
        for name, r in result.items():
            print(f"{label:7s} {name:7s} p50 {r['p50_us']:8.1f} us  p99 {r['p99_us']:8.1f} us"
                  f"  refused {r['refused']}")
    print(json.dumps({"bench": "replica_reads", "reads": args.reads * args.rounds,
                      "write_every_ms": args.write_every_ms, "bars_written": written[0],
                      "idle": idle, "writing": loaded}))


if __name__ == "__main__":
    main()

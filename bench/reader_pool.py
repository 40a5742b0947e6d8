"""Benchmark of a serving read through the reader pool: the cost of the boundary.

One `latest(db, "bar", symbol)` per borrow, in a throwaway database (created, migrated,
dropped), measured side by side:
- ours: the reader pool as it is (a read-only login, `DISCARD ALL` on each return, no
  server-side prepared statements);
- baseline: the pool it replaced (the writer's superuser login with `SET ROLE underdog_reader`
  once per connection, psycopg's prepared statements, no reset), which a borrower could
  turn back into a superuser;
- and, to show what the reset costs: the reader login with prepared statements, no reset.
Last line of output: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from psycopg_pool import ConnectionPool  # noqa: E402
from scratch import scratch_database, scratch_dsn  # noqa: E402

from underdog.config import load_settings  # noqa: E402
from underdog.market.backfill import backfill_bars  # noqa: E402
from underdog.store.db import Database, check_idle  # noqa: E402
from underdog.store.offline.readers import latest  # noqa: E402

DAY = datetime(2024, 3, 5, tzinfo=UTC)


class Baseline(Database):
    """The reader pool before: SET ROLE on the writer's session, no reset."""

    def __init__(self, dsn: str) -> None:
        super().__init__(dsn)
        self._reader = ConnectionPool(
            dsn, min_size=1, max_size=1, open=False, kwargs={"autocommit": True},
            check=check_idle, configure=lambda c: (
                c.execute("SET ROLE underdog_reader"),
                c.execute("SET default_transaction_read_only = on")),
            name="baseline-reader")


class NoReset(Database):
    """The reader login as ours, without the reset and with psycopg's prepared statements."""

    def __init__(self, dsn: str) -> None:
        super().__init__(dsn)
        self._reader = ConnectionPool(
            self.reader_dsn, min_size=1, max_size=1, open=False, kwargs={"autocommit": True},
            check=check_idle, name="noreset-reader")


def per_read_us(db: Database, reads: int) -> float:
    """Microseconds per latest-bar read (one borrow and return each)."""
    start = time.perf_counter()
    for _ in range(reads):
        latest(db, "bar", "EURUSD")
    return (time.perf_counter() - start) / reads * 1e6


def interleaved(pools: dict[str, Database], reads: int, rounds: int = 7) -> dict[str, float]:
    """Median per pool over rounds that alternate between the pools, so that load from
    other processes on the machine falls on both alike."""
    for db in pools.values():
        per_read_us(db, 100)  # warm up: connections made, plans cached
    times: dict[str, list[float]] = {name: [] for name in pools}
    for _ in range(rounds):
        for name, db in pools.items():
            times[name].append(per_read_us(db, reads))
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=1000, help="reads per round")
    args = parser.parse_args()
    settings = load_settings()
    with scratch_database(scratch_dsn("underdog_bench_reader", settings.dsn),
                          timescale=settings.timescale) as dsn:
        with Database(dsn) as db:
            backfill_bars(db, ["EURUSD"], DAY, DAY.replace(hour=2), seed=3)
        with Database(dsn, max_size=1) as ours, Baseline(dsn) as baseline, \
                NoReset(dsn) as no_reset:
            results = interleaved({"ours": ours, "baseline": baseline, "no_reset": no_reset},
                                  args.reads)
        for name, us in results.items():
            print(f"{name:8s} {us:7.1f} us per latest-bar read (median of 7 interleaved rounds)")
    print(json.dumps({"bench": "reader_pool", "reads": args.reads,
                      "ours_us": round(results["ours"], 1),
                      "baseline_us": round(results["baseline"], 1),
                      "no_reset_us": round(results["no_reset"], 1),
                      "ratio": round(results["ours"] / results["baseline"], 2)}))


if __name__ == "__main__":
    main()

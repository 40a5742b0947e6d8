"""Benchmark: one backfill on 1 and on 2 Celery workers (UNDERDOG_EXECUTOR=celery).

The backfill of tests/scale at benchmark size: ticks and ohlcv, then the regime model and
labels, then state_vectors, for --days UTC days (>= 40) and two symbols, one run per day and
phase, 2 runs in flight per worker. Each worker is a host of its own (tests/scale/cluster.py:
its own UTS namespace as root) with one process, as one core of a machine; a fresh feature
store, Dagster storage and Redis prefix per worker count, dropped after. Steps are a day of
ticks for two symbols each, so Celery's overhead per step (about a second) stays small.

Prints each wall time and the load average; last line: one JSON object with `partitions`,
`workers_1_s`, `workers_2_s`, `speedup` (and the rows of both runs, which must be equal).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import table_checksum  # noqa: E402
from tests.scale.cluster import cluster_env, local_cluster  # noqa: E402
from underdog.store import migrate  # noqa: E402
from underdog.store.admin import create_database, drop_database  # noqa: E402
from underdog.store.db import Database  # noqa: E402
from underdog_assets.runs import execute_many, partition_tags  # noqa: E402

SERVER = os.environ.get("UNDERDOG_TEST_SERVER", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("UNDERDOG_REDIS_URL", "redis://127.0.0.1:6379/0")
FIRST_DAY = date(2024, 2, 1)
PHASES = (("market_daily", ("ticks", "ohlcv")),
          ("features_daily", ("regime_model", "regime_predictions")),
          ("features_daily", ("state_vectors",)))
TABLES = ("ticks", "ohlcv", "regime_predictions", "state_vectors")


def backfill(workers: int, days: list[str], tag: str) -> tuple[float, dict]:
    """Wall time of the whole backfill on `workers` workers, and the rows it wrote."""
    dsn, dagster_dsn = f"{SERVER}/underdog_bench_{tag}", f"{SERVER}/underdog_bench_{tag}_dg"
    for url in (dsn, dagster_dsn):
        create_database(url)
    migrate.upgrade(dsn)
    home = Path(tempfile.mkdtemp(prefix=f"scale_{tag}_"))
    env = cluster_env(dsn=dsn, dagster_dsn=dagster_dsn, redis_url=REDIS_URL,
                      prefix=f"bench_scale_{tag}", home=home / "dagster_home",
                      extra={"UNDERDOG_SYMBOLS": "EURUSD,GBPUSD"})
    hosts = tuple(f"w{i}" for i in range(1, workers + 1))
    try:
        with local_cluster(home / "dagster_home", env, hosts=hosts, pool_limit=workers):
            began = time.perf_counter()
            for job, assets in PHASES:
                outcomes = execute_many([(job, partition_tags(d), assets) for d in days],
                                        parallel=2 * workers)
                failed = [o.run_id for o in outcomes if not o.success]
                if failed:
                    raise SystemExit(f"{job} {assets}: runs failed: {failed}")
            seconds = time.perf_counter() - began
        with Database(dsn) as db:
            rows = {t: table_checksum(db, t) for t in TABLES}
        return seconds, rows
    finally:
        drop_database(dagster_dsn)
        drop_database(dsn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=42, help="partitions (UTC days), >= 40")
    args = parser.parse_args()
    days = [str(FIRST_DAY + timedelta(days=i)) for i in range(args.days)]
    run = uuid.uuid4().hex[:8]
    one_s, one_rows = backfill(1, days, f"{run}_1")
    print(f"1 worker: {one_s:.1f} s (load average {os.getloadavg()})", flush=True)
    two_s, two_rows = backfill(2, days, f"{run}_2")
    print(f"2 workers: {two_s:.1f} s (load average {os.getloadavg()})", flush=True)
    print(json.dumps({"partitions": len(days), "workers_1_s": round(one_s, 1),
                      "workers_2_s": round(two_s, 1), "speedup": round(one_s / two_s, 2),
                      "rows_equal": one_rows == two_rows,
                      "rows": {t: n for t, (n, _) in two_rows.items()},
                      "load_average_1m": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()

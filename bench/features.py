"""Benchmark of the StateVectorBuilder: offline training frames, online update and read.

One symbol, one year of simulated M1 bars with sentiment scores, macro vintages and regime
labels, in a throwaway database (created, migrated, dropped) and a throwaway Redis prefix.
Measured side by side with the baselines named in the issue:
- offline: our vectorized build against a per-bar as-of lookup (one SQL query per bar for
  sentiment, macro and regime: the naive feature-store join), timed on a sample of bars;
- online read: `latest_state` from Redis against the same row read from PostgreSQL.
Last line of output: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scratch import scratch_database, scratch_dsn  # noqa: E402

from underdog.features import materialize, regime  # noqa: E402
from underdog.features.audits import lookahead_audit, parity_audit  # noqa: E402
from underdog.features.online import latest_state, update_online  # noqa: E402
from underdog.features.state_vector import load_inputs, training_frame  # noqa: E402
from underdog.market.backfill import backfill_bars  # noqa: E402
from underdog.store.db import Database  # noqa: E402
from underdog.store.offline.readers import bars, latest  # noqa: E402
from underdog.store.offline.writers import replace_window, upsert  # noqa: E402
from underdog.store.online.cache import LatestCache  # noqa: E402
from underdog.store.tables import MACRO_INDICATORS, REGIME_PREDICTIONS, SENTIMENT_SCORES  # noqa: E402

SYMBOL = "EURUSD"
START = datetime(2023, 1, 2, tzinfo=UTC)
END = datetime(2024, 1, 1, tzinfo=UTC)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.array(samples) * 1e3
    return round(float(np.percentile(ms, 50)), 3), round(float(np.percentile(ms, 99)), 3)


def seed_sentiment(db: Database, rng: np.random.Generator) -> int:
    n = 40 * 365
    published = START + pd.to_timedelta(np.sort(rng.uniform(0, 365 * 86400, n)), unit="s")
    frame = pd.DataFrame({
        "symbol": SYMBOL, "source": rng.choice(["newsapi", "gnews", "reddit"], n),
        "item_id": [f"i{i}" for i in range(n)], "time": published,
        "available_at": published + pd.to_timedelta(rng.uniform(60, 1800, n), unit="s"),
        "sentiment": rng.uniform(-1, 1, n), "confidence": rng.uniform(0.2, 1, n),
        "label": "neutral", "model": "bench",
    })
    return upsert(db, SENTIMENT_SCORES, frame, source="bench").written


def seed_macro(db: Database) -> int:
    days = pd.date_range(START - timedelta(days=10), END, freq="D", tz="UTC")
    rows = []
    for series, base in (("VIXCLS", 18.0), ("DFF", 4.5), ("T10Y2Y", -0.6)):
        for i, day in enumerate(days):
            known = day + timedelta(days=1, hours=22)
            rows.append((series, day, known.date(), base + np.sin(i / 9), known))
            rows.append((series, day, (known + timedelta(days=7)).date(),
                         base + np.sin(i / 9) + 0.01, known + timedelta(days=7)))
    frame = pd.DataFrame(rows, columns=["series_id", "time", "realtime_start", "value",
                                        "available_at"])
    frame["realtime_end"], frame["name"], frame["units"] = None, None, None
    return upsert(db, MACRO_INDICATORS, frame, source="bench").written


def seed_regimes(db: Database) -> int:
    """One model (fitted on the 30 days before START) labels the whole year: setup only."""
    history = bars(db, SYMBOL, START - timedelta(days=40), END)
    features = regime.bucket_features(history, as_of=END)
    model = regime.fit(features, START)
    frames = []
    for day in materialize.days(START, END):
        rows = regime.predict_day(model, features, day)
        rows.insert(0, "symbol", SYMBOL)
        frames.append(rows)
    frame = pd.concat(frames, ignore_index=True)
    return replace_window(db, REGIME_PREDICTIONS, frame, start=START, end=END,
                          source="bench").written


def naive_rows_per_s(db: Database, frame: pd.DataFrame, sample: int = 300) -> float:
    """The per-row baseline: for each bar, three as-of queries (sentiment, macro, regime)."""
    times = frame["available_at"].iloc[:: max(1, len(frame) // sample)][:sample]
    began = time.perf_counter()
    with db.reader() as conn:
        for t in times:
            conn.execute(
                "SELECT sentiment, confidence, available_at FROM underdog.sentiment_scores"
                " WHERE symbol = %s AND available_at > %s AND available_at <= %s",
                (SYMBOL, t - timedelta(hours=24), t)).fetchall()
            for series in ("VIXCLS", "DFF", "T10Y2Y"):
                conn.execute(
                    "SELECT value FROM underdog.macro_indicators WHERE series_id = %s"
                    " AND available_at <= %s AND value IS NOT NULL"
                    " ORDER BY time DESC, available_at DESC LIMIT 1", (series, t)).fetchone()
            conn.execute(
                "SELECT regime FROM underdog.regime_predictions WHERE symbol = %s"
                " AND available_at <= %s ORDER BY available_at DESC LIMIT 1",
                (SYMBOL, t)).fetchone()
        conn.rollback()
    return len(times) / (time.perf_counter() - began)


def run(dsn: str, redis_url: str, args: argparse.Namespace) -> dict:
    with Database(dsn) as db:
        log("seeding one year of M1 bars, news, macro vintages, regime labels ...")
        backfill_bars(db, [SYMBOL], START - timedelta(days=40), END, seed=1)
        seed_sentiment(db, np.random.default_rng(0))
        seed_macro(db)
        seed_regimes(db)
        with db.connection() as conn, conn.transaction():
            conn.execute("ANALYZE")  # fresh statistics, as after any large load
        offline_s = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            frame = training_frame(db, SYMBOL, START, END)
            offline_s.append(time.perf_counter() - began)
        best = min(offline_s)
        log(f"offline: {len(frame):,} rows in {best:.2f} s")
        naive = naive_rows_per_s(db, frame)
        log(f"per-row as-of baseline: {naive:,.0f} rows/s")

        cache = LatestCache.from_url(redis_url, prefix=f"underdog_bench_features_{os.getpid()}",
                                     loader=lambda k, s, src: latest(db, k, s, src))
        try:
            last_bars = frame.index[-args.updates:]
            update_s = []
            for bar_time in last_bars:
                began = time.perf_counter()
                update_online(db, cache, SYMBOL, bar_time.to_pydatetime())
                update_s.append(time.perf_counter() - began)
            ms = np.array(update_s) * 1e3
            log("online update: p50 {:.2f} p90 {:.2f} p99 {:.2f} max {:.2f} ms over {} bars"
                .format(*np.percentile(ms, [50, 90, 99]), ms.max(), len(ms)))
            read_s, db_read_s = [], []
            for _ in range(args.reads):
                began = time.perf_counter()
                latest_state(cache, SYMBOL)
                read_s.append(time.perf_counter() - began)
            materialize.state_vectors(db, [SYMBOL], END - timedelta(days=2), END)
            for _ in range(args.reads):
                began = time.perf_counter()
                latest(db, "state", SYMBOL)
                db_read_s.append(time.perf_counter() - began)
        finally:
            cache.clear()
        month = (END - timedelta(days=30), END)
        parity = parity_audit(db, SYMBOL, frame[frame.index >= month[0]], bars=50)
        audit = lookahead_audit(load_inputs(db, SYMBOL, *month), *month, cutoffs=20)
    update = percentiles(update_s)
    read, db_read = percentiles(read_s), percentiles(db_read_s)
    return {
        "offline_rows": len(frame),
        "offline_rows_per_s": round(len(frame) / best),
        "naive_asof_rows_per_s": round(naive),
        "online_update_p50_ms": update[0], "online_update_p99_ms": update[1],
        "online_read_p50_ms": read[0], "online_read_p99_ms": read[1],
        "db_read_p50_ms": db_read[0], "db_read_p99_ms": db_read[1],
        "feast_documented_read_p99_ms": 1.7,
        "parity_max_abs_diff": parity.max_abs_diff,
        "parity_max_rel_diff": parity.max_rel_diff,
        "lookahead_violations": audit.violations,
        "targets_met": {
            "offline_rows_per_s>=200000": len(frame) / best >= 200_000,
            "online_update_p99_ms<20": update[1] < 20,
            "online_read_p99_ms<1": read[1] < 1,
            "lookahead_violations==0": audit.violations == 0,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="offline builds (best is kept)")
    parser.add_argument("--updates", type=int, default=2000,
                        help="online updates timed (one per bar, the last bars of the year)")
    parser.add_argument("--reads", type=int, default=2000, help="online reads timed")
    args = parser.parse_args()
    with scratch_database(scratch_dsn("underdog_bench_features")) as dsn:
        result = run(dsn, os.environ.get("UNDERDOG_REDIS_URL", "redis://127.0.0.1:6379/0"), args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

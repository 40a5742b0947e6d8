"""Ingest and serving benchmark of the foundation issue.

Everything runs in a throwaway database `underdog_bench_<pid>` on the server that
UNDERDOG_DATABASE_URL names (created, migrated with `underdog.store.migrate.upgrade`,
dropped at the end), so the real `underdog.ohlcv` is never touched and `readers.bars` reads
the benchmark's rows from the table it always reads.

Measured, each load into an empty `underdog.ohlcv` (TRUNCATE, then CHECKPOINT so no run pays
for an earlier run's dirty pages):
  ours         replace_window(streams=--streams): validate + numpy binary encode, then
               2 x --streams windows of contiguous whole UTC days, one DELETE + COPY
               transaction each, --streams at once (on TimescaleDB each window's chunks
               made just before it starts, while the windows before it are written)
  ours_single  replace_window: the same in one transaction, one COPY stream
  psql \\copy   the same rows as CSV, timing only the psql process
  seed style   executemany of INSERT .. ON CONFLICT DO NOTHING, 10,000 rows and a commit per batch
Then, with the rows loaded by our writer and VACUUM ANALYZE run (autovacuum may be off):
  query_day    BarPacks.bars for one symbol and one day (whole days from Redis, each checked
               against the table's fingerprint of that day first; every day read once before
               timing), readers.bars straight from the table, and a text-protocol SELECT +
               fetchall (the seed's read); then 30-day windows through the packs and the table.
               On TimescaleDB the first half of the days then moves to the columnstore
               (compress_chunk) and readers.bars is timed on rowstore and columnstore days
               apart
  latest       LatestCache.get hits on Redis vs readers.latest straight from PostgreSQL

Progress goes to stdout; the last line of stdout is one JSON object. Exit code 0 even when a
target is missed: this measures, it does not test.

    .venv/bin/python bench/ingest.py --rows 1000000 [--repeat 3] [--streams 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
import psycopg

from underdog.config import Settings, load_settings
from underdog.reference.instruments import INSTRUMENTS
from underdog.reference.schema import BAR
from underdog.store.db import Database
from underdog.store.offline import readers
from underdog.store.offline.bar_storage import encode_bars
from underdog.store.offline.writers import replace_window
from underdog.store.online.bar_packs import BarPacks
from underdog.store.online.cache import LatestCache
from underdog.store.tables import OHLCV

sys.path.insert(0, str(Path(__file__).parent))  # run as a script or imported by storage.py
from scratch import scratch_database  # noqa: E402

SEED = 20240101
SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY", "AUDUSD", "USDCHF", "USDCAD", "NZDUSD", "EURGBP")
# Recent enough that a TimescaleDB retention policy (2 years) would not consider it old.
START = datetime(2026, 1, 5, tzinfo=UTC)
SEED_BATCH = 10_000
QUERY_WARMUP, QUERY_ITERATIONS = 20, 500
MONTH_DAYS, MONTH_ITERATIONS = 30, 100
CACHE_ITERATIONS = 2_000
# What the table stores (prices as units and a scale, revision 0012): psql and the seed style
# load the stored form, so every loader writes the same bytes.
COLUMNS = [c.name for c in OHLCV.stored_columns]
INSERT_SEED = (
    f"INSERT INTO underdog.ohlcv ({', '.join(COLUMNS)}) VALUES "
    f"({', '.join(['%s'] * len(COLUMNS))}) ON CONFLICT DO NOTHING"
)
SELECT_DAY = (
    "SELECT time, open, high, low, close, volume, spread FROM underdog.ohlcv_values"
    " WHERE symbol = %s AND time >= %s AND time < %s ORDER BY time"
)


def say(message: str) -> None:
    print(message, flush=True)


# --- data -------------------------------------------------------------------------------------


def _symbol_bars(rng: np.random.Generator, symbol: str, n: int) -> pd.DataFrame:
    """n consecutive M1 bars of a random walk: valid OHLC, positive prices on the
    instrument's grid (as quotes are: bars store them as integers and a scale)."""
    spec = INSTRUMENTS[symbol]
    sigma = spec.daily_vol / np.sqrt(1440)
    close = np.round(spec.base_price * np.exp(np.cumsum(rng.normal(0.0, sigma, n))),
                     spec.digits)
    open_ = np.concatenate(([spec.base_price], close[:-1]))
    wick = spec.base_price * sigma * np.abs(rng.normal(0.0, 1.0, (2, n)))
    return pd.DataFrame({
        "symbol": symbol,
        "time": pd.date_range(START, periods=n, freq="min", unit="us"),
        "open": open_,
        "high": np.round(np.maximum(open_, close) + wick[0], spec.digits),
        "low": np.round(np.minimum(open_, close) - wick[1], spec.digits),
        "close": close,
        "volume": rng.poisson(20, n).astype("int64"),
        "spread": spec.spread_points * spec.point * rng.uniform(0.8, 1.5, n),
        "source": "bench",
    })


def stored_form(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows as the table stores them (underdog.store.offline.bar_storage)."""
    stored, reasons = encode_bars(frame)
    if any(r is not None for r in reasons):
        raise RuntimeError("bench bars off their grid")
    return stored


def make_bars(rows: int, symbols: tuple[str, ...]) -> pd.DataFrame:
    """`rows` bars, split evenly over the symbols, symbol by symbol like a backfill."""
    rng = np.random.default_rng(SEED)
    counts = [rows // len(symbols) + (i < rows % len(symbols)) for i in range(len(symbols))]
    frames = [_symbol_bars(rng, s, n) for s, n in zip(symbols, counts, strict=True) if n]
    return pd.concat(frames, ignore_index=True)


def seed_tuples(frame: pd.DataFrame) -> list[tuple]:
    """Rows as Python tuples, built before timing (the seed built its OHLCVBar list first)."""
    frame = stored_form(frame)
    columns = [frame[c].tolist() for c in COLUMNS]
    columns[1] = list(frame["time"].dt.to_pydatetime())
    return list(zip(*columns, strict=True))


# --- database ---------------------------------------------------------------------------------


def throwaway_dsn(dsn: str, name: str) -> str:
    """The same server and options, another database (Settings only accepts URL DSNs)."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


def backend(conn: psycopg.Connection) -> str:
    version = conn.execute("SHOW server_version").fetchone()[0]
    row = conn.execute(
        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
    ).fetchone()
    return f"timescaledb {row[0]} (PostgreSQL {version})" if row else f"postgresql {version}"


def pause_timescale_jobs(conn: psycopg.Connection) -> int:
    """Stop columnstore/retention/refresh jobs here: they would compress or drop mid-run."""
    if "timescaledb" not in backend(conn):
        return 0
    rows = conn.execute(
        "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs"
        " WHERE job_id >= 1000"
    ).fetchall()
    return len(rows)


def can_checkpoint(conn: psycopg.Connection) -> bool:
    """CHECKPOINT needs a superuser or pg_checkpoint (PostgreSQL 15+)."""
    row = conn.execute(
        "SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
        " OR coalesce((SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles"
        " WHERE rolname = 'pg_checkpoint'), false)"
    ).fetchone()
    return bool(row and row[0])


def reset(conn: psycopg.Connection, checkpoint: bool = True) -> None:
    """Empty table, nothing dirty in shared buffers: each load starts from the same state."""
    conn.execute("TRUNCATE underdog.ohlcv, underdog.dead_letters")
    if checkpoint:
        conn.execute("CHECKPOINT")


def count_rows(conn: psycopg.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM underdog.ohlcv").fetchone()[0])


def throwaway_database(dsn: str, settings: Settings) -> AbstractContextManager[str]:
    """Create + migrate a database of our own; drop it however we leave."""
    return scratch_database(dsn, timescale=settings.timescale, reader_role=settings.reader_role,
                            reader_password=settings.reader_secret)


# --- loads ------------------------------------------------------------------------------------


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def load_ours(db: Database, frame: pd.DataFrame, streams: int = 1) -> None:
    start = frame["time"].min().to_pydatetime()
    end = frame["time"].max().to_pydatetime() + BAR
    symbols = sorted(frame["symbol"].unique())
    result = replace_window(db, OHLCV, frame, start=start, end=end, source="bench",
                            only={"symbol": symbols}, symbols=symbols, streams=streams)
    if result.rejected:
        raise RuntimeError(f"bench rows rejected: {result.reasons}")


def load_psql(dsn: str, csv: Path) -> None:
    command = f"\\copy underdog.ohlcv ({', '.join(COLUMNS)}) FROM '{csv}' WITH (FORMAT csv)"
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", command],
                   check=True)


def load_seed_style(conn: psycopg.Connection, rows: list[tuple]) -> None:
    with conn.cursor() as cur:
        for offset in range(0, len(rows), SEED_BATCH):
            cur.executemany(INSERT_SEED, rows[offset : offset + SEED_BATCH])
            conn.commit()


@dataclass
class Loads:
    ours: list[float]
    ours_single: list[float]
    psql: list[float]
    seed: list[float]


def measure_loads(db: Database, admin: psycopg.Connection, frame: pd.DataFrame, csv: Path,
                  repeat: int, checkpoint: bool, streams: int) -> Loads:
    """Rows/s of each path, interleaved per repeat so drift hits all of them alike."""
    rows = seed_tuples(frame)
    loads = Loads([], [], [], [])
    with psycopg.connect(db.dsn) as seed_conn:
        paths: dict[str, Callable[[], object]] = {
            "ours": lambda: load_ours(db, frame, streams),
            "ours_single": lambda: load_ours(db, frame),
            "psql": lambda: load_psql(db.dsn, csv),
            "seed": lambda: load_seed_style(seed_conn, rows),
        }
        for r in range(repeat):
            for name, run in paths.items():
                reset(admin, checkpoint)
                seconds = timed(run)
                if (n := count_rows(admin)) != len(frame):
                    raise RuntimeError(f"{name}: {n} rows in the table, expected {len(frame)}")
                rate = len(frame) / seconds
                getattr(loads, name).append(rate)
                say(f"  [{r + 1}/{repeat}] {name:11s} {seconds:7.2f} s  {rate:12,.0f} rows/s")
    return loads


# --- reads ------------------------------------------------------------------------------------


@dataclass
class Reads:
    query: list[float]
    uncached: list[float]  # rowstore days
    columnstore: list[float] | None  # columnstore days (TimescaleDB)
    baseline: list[float]
    hits: list[float]
    direct: list[float]
    month: list[float]
    month_uncached: list[float]


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples_ms, 50)), float(np.percentile(samples_ms, 99))


def latencies(run: Callable[[], object], warmup: int, iterations: int) -> list[float]:
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(iterations):
        started = time.perf_counter_ns()
        run()
        samples.append((time.perf_counter_ns() - started) / 1e6)
    return samples


def full_days(frame: pd.DataFrame) -> int:
    """Whole days of bars that every symbol has."""
    return int(frame["symbol"].value_counts().min()) // 1440


def random_days(frame: pd.DataFrame, count: int, length: int = 1,
                among: tuple[int, int] | None = None) -> Iterator[tuple[str, datetime, datetime]]:
    """(symbol, start, start + `length` days) over the days every symbol fully covers (or
    the day numbers `among` = [first, last) of them)."""
    first, last = among or (0, full_days(frame))
    days = max(1, last - first - length + 1)
    symbols = sorted(frame["symbol"].unique())
    rng = np.random.default_rng(SEED + length)
    for _ in range(count):
        day = START + timedelta(days=first + int(rng.integers(days)))
        yield str(symbols[rng.integers(len(symbols))]), day, day + timedelta(days=length)


def query_bars(db: Database, window: tuple[str, datetime, datetime]) -> pd.DataFrame:
    return readers.bars(db, *window)


def warm_packs(db: Database, packs: BarPacks, frame: pd.DataFrame) -> float:
    """Read every (symbol, day) once through the packs: seconds taken (reads + stores)."""
    symbols = sorted(frame["symbol"].unique())
    days = full_days(frame)
    started = time.perf_counter()
    for symbol in symbols:
        for d in range(days):
            packs.bars(db, symbol, START + timedelta(days=d), START + timedelta(days=d + 1))
    if packs.stats["miss"] != days * len(symbols):
        raise RuntimeError(f"warm-up should miss every day once, got {dict(packs.stats)}")
    return time.perf_counter() - started


def query_baseline(db: Database, window: tuple[str, datetime, datetime]) -> pd.DataFrame:
    """The seed design's read: text protocol, a Python tuple per row, then a DataFrame."""
    with db.reader() as conn, conn.cursor() as cur:
        cur.execute(SELECT_DAY, window)
        rows = cur.fetchall()
        conn.rollback()
    return pd.DataFrame(rows, columns=["time", *readers.BAR_FIELDS])


def measure_query(db: Database, frame: pd.DataFrame,
                  query: Callable[[Database, tuple], pd.DataFrame], length: int = 1,
                  iterations: int = QUERY_ITERATIONS,
                  among: tuple[int, int] | None = None) -> list[float]:
    """Latencies of reading random windows of `length` whole days (of the days `among`)."""
    windows = random_days(frame, QUERY_WARMUP + iterations, length, among)
    expected = min(1440 * length, int(frame["symbol"].value_counts().min()))

    def one() -> None:
        if len(query(db, next(windows))) != expected:
            raise RuntimeError(f"{query.__name__}: expected {expected} rows per window")

    return latencies(one, QUERY_WARMUP, iterations)


def measure_cache(db: Database, cache: LatestCache,
                  symbol: str) -> tuple[list[float], list[float]]:
    """(cache hit latencies, database latencies) of the latest bar of `symbol`."""
    if cache.get("bar", symbol) is None or cache.stats["miss"] != 1:
        raise RuntimeError("the warm-up get should miss once and fill the cache")
    hits = latencies(lambda: cache.get("bar", symbol), 0, CACHE_ITERATIONS)
    if cache.stats["hit"] != CACHE_ITERATIONS:
        raise RuntimeError(f"expected {CACHE_ITERATIONS} hits, got {dict(cache.stats)}")
    direct = latencies(lambda: readers.latest(db, "bar", symbol), 20, CACHE_ITERATIONS)
    return hits, direct


# --- report -----------------------------------------------------------------------------------


def summary(rows: int, backend_name: str, loads: Loads, reads: Reads) -> dict:
    ours, single, psql, seed = (statistics.median(x) for x in (
        loads.ours, loads.ours_single, loads.psql, loads.seed))
    columnstore = percentiles(reads.columnstore) if reads.columnstore else (None, None)
    q50, q99 = percentiles(reads.query)
    u50, u99 = percentiles(reads.uncached)
    b50, b99 = percentiles(reads.baseline)
    c50, c99 = percentiles(reads.hits)
    d50, d99 = percentiles(reads.direct)
    return {
        "backend": backend_name,
        "rows": rows,
        "ours_rows_per_s": round(ours),
        "psql_copy_rows_per_s": round(psql),
        "seed_style_rows_per_s": round(seed),
        "ours_single_rows_per_s": round(single),
        "ours_vs_psql": round(ours / psql, 3),
        "ours_single_vs_psql": round(single / psql, 3),
        "ours_vs_seed": round(ours / seed, 3),
        "query_day_p50_ms": round(q50, 3),
        "query_day_p99_ms": round(q99, 3),
        "query_day_uncached_p50_ms": round(u50, 3),
        "query_day_uncached_p99_ms": round(u99, 3),
        "query_day_columnstore_p50_ms": _round(columnstore[0]),
        "query_day_columnstore_p99_ms": _round(columnstore[1]),
        "query_30d_p50_ms": round(percentiles(reads.month)[0], 3),
        "query_30d_uncached_p50_ms": round(percentiles(reads.month_uncached)[0], 3),
        "query_day_baseline_p50_ms": round(b50, 3),
        "query_day_baseline_p99_ms": round(b99, 3),
        "cached_latest_p50_ms": round(c50, 3),
        "cached_latest_p99_ms": round(c99, 3),
        "latest_db_p50_ms": round(d50, 3),
        "latest_db_p99_ms": round(d99, 3),
        "targets_met": {
            "ours_ge_0.9x_psql": ours >= 0.9 * psql,
            "ours_ge_1.3x_psql": ours >= 1.3 * psql,
            "table_day_p50_lt_2ms": u50 < 2.0 and (columnstore[0] or 0) < 2.0,
            "ours_ge_4x_seed": ours >= 4 * seed,
            "query_day_p50_lt_2ms": q50 < 2.0,
            "cached_p99_lt_1ms": c99 < 1.0,
        },
        "runs": {"ours": [round(x) for x in loads.ours],
                 "ours_single": [round(x) for x in loads.ours_single],
                 "psql": [round(x) for x in loads.psql], "seed": [round(x) for x in loads.seed],
                 "ours_vs_psql": [round(o / p, 3) for o, p in zip(loads.ours, loads.psql,
                                                                   strict=True)]},
        "symbols": len(SYMBOLS),
        "method": "median over --repeat, paths interleaved; TRUNCATE (+ CHECKPOINT) before each"
                  " load; VACUUM ANALYZE before reads; throwaway database",
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def to_columnstore(admin: psycopg.Connection, days: int) -> tuple[int, int]:
    """Move the chunks that end by day `days` to the columnstore: (chunks moved, days from
    START now wholly in the columnstore; chunks are 7 days, not aligned with START)."""
    if "timescaledb" not in backend(admin):
        return 0, 0
    rows = admin.execute(
        "SELECT compress_chunk(c) FROM show_chunks('underdog.ohlcv', older_than => %s) c",
        (START + timedelta(days=days),)).fetchall()
    end = admin.execute(
        "SELECT max(range_end) FROM timescaledb_information.chunks WHERE hypertable_schema ="
        " 'underdog' AND hypertable_name = 'ohlcv' AND is_compressed").fetchone()[0]
    return len(rows), (end - START).days if end else 0


def measure_reads(db: Database, admin: psycopg.Connection, frame: pd.DataFrame,
                  redis_url: str) -> Reads:
    """Latencies with the rows loaded by our writer, fresh statistics and visibility map."""
    reset(admin, checkpoint=False)
    load_ours(db, frame)
    admin.execute("VACUUM ANALYZE underdog.ohlcv")
    say(f"reads: {QUERY_ITERATIONS} one-day queries after {QUERY_WARMUP} warm-up,"
        f" {CACHE_ITERATIONS} latest-bar gets")
    prefix = f"underdog_bench_{os.getpid()}"
    packs = BarPacks.from_url(redis_url, prefix=prefix)
    cache = LatestCache.from_url(
        redis_url, prefix=prefix,
        loader=lambda kind, symbol, source: readers.latest(db, kind, symbol, source),
    )
    try:
        say(f"  packs: every day read and stored once in {warm_packs(db, packs, frame):.1f} s")
        def through_packs(db: Database, window: tuple[str, datetime, datetime]) -> pd.DataFrame:
            return packs.bars(db, *window)

        query = measure_query(db, frame, through_packs)
        if packs.stats["hit"] != QUERY_WARMUP + QUERY_ITERATIONS:
            raise RuntimeError(f"every timed read should hit its pack: {dict(packs.stats)}")
        month = measure_query(db, frame, through_packs, MONTH_DAYS, MONTH_ITERATIONS)
        month_uncached = measure_query(db, frame, query_bars, MONTH_DAYS, MONTH_ITERATIONS)
        baseline = measure_query(db, frame, query_baseline)
        hits, direct = measure_cache(db, cache, SYMBOLS[0])
    finally:
        cache.clear()
        cache.client.close()
        packs.client.close()
    # Last, as bar packs read columnstore days from the table: half the days move there.
    moved, half = to_columnstore(admin, full_days(frame) // 2)
    if moved:
        admin.execute("VACUUM ANALYZE underdog.ohlcv")
        say(f"  columnstore: days 0-{half - 1} ({moved} chunks); rowstore: the rest")
    rowstore_days = (half, full_days(frame)) if moved else None
    uncached = measure_query(db, frame, query_bars, among=rowstore_days)
    columnstore = measure_query(db, frame, query_bars, among=(0, half)) if moved else None
    return Reads(query, uncached, columnstore, baseline, hits, direct, month, month_uncached)


def run(rows: int, repeat: int, settings: Settings, workdir: Path, streams: int) -> dict:
    dsn = throwaway_dsn(settings.dsn, f"underdog_bench_{os.getpid()}")
    frame = make_bars(rows, SYMBOLS)
    csv = workdir / "bars.csv"
    stored_form(frame).to_csv(csv, columns=COLUMNS, header=False, index=False)
    say(f"data: {len(frame):,} bars, {len(SYMBOLS)} symbols, CSV {csv.stat().st_size >> 20} MiB")
    with throwaway_database(dsn, settings), psycopg.connect(dsn, autocommit=True) as admin, \
            Database(dsn, reader_role=settings.reader_role,
                     reader_password=settings.reader_secret) as db:
        name = backend(admin)
        paused = pause_timescale_jobs(admin)
        checkpoint = can_checkpoint(admin)
        say(f"backend: {name} in throwaway database {dsn.rsplit('/', 1)[-1]}"
            + (f" ({paused} TimescaleDB jobs paused)" if paused else "")
            + ("" if checkpoint else " (no CHECKPOINT privilege: loads not isolated)"))
        say(f"loads ({repeat}x, median reported):")
        loads = measure_loads(db, admin, frame, csv, repeat, checkpoint, streams)
        reads = measure_reads(db, admin, frame, settings.redis_url.get_secret_value())
    result = summary(len(frame), name, loads, reads)
    result["checkpoint_between_loads"] = checkpoint
    result["streams"] = streams
    return result


def report(result: dict) -> None:
    say(f"ours        {result['ours_rows_per_s']:>12,} rows/s")
    say(f"ours, 1 COPY {result['ours_single_rows_per_s']:>11,} rows/s"
        f"  (x{result['ours_single_vs_psql']} psql)")
    say(f"psql \\copy  {result['psql_copy_rows_per_s']:>12,} rows/s"
        f"  (ours x{result['ours_vs_psql']})")
    say(f"seed style  {result['seed_style_rows_per_s']:>12,} rows/s"
        f"  (ours x{result['ours_vs_seed']})")
    say(f"query day   p50 {result['query_day_p50_ms']} ms  p99 {result['query_day_p99_ms']} ms"
        f" (checked packs); table p50 {result['query_day_uncached_p50_ms']} ms"
        f" (columnstore day {result['query_day_columnstore_p50_ms']} ms);"
        f" text SELECT p50 {result['query_day_baseline_p50_ms']} ms")
    say(f"query 30 d  p50 {result['query_30d_p50_ms']} ms (checked packs);"
        f" table p50 {result['query_30d_uncached_p50_ms']} ms")
    say(f"latest bar  Redis p50 {result['cached_latest_p50_ms']} ms"
        f" p99 {result['cached_latest_p99_ms']} ms;"
        f" PostgreSQL p99 {result['latest_db_p99_ms']} ms")
    say(f"targets     {result['targets_met']}")
    print(json.dumps(result), flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="M1 bars to load")
    parser.add_argument("--repeat", type=int, default=1, help="loads per path (median kept)")
    parser.add_argument("--streams", type=int, default=2,
                        help="COPY streams of our writer (contiguous whole days each)")
    args = parser.parse_args(argv)
    if args.rows < len(SYMBOLS) or args.repeat < 1 or not 1 <= args.streams <= 4:
        parser.error(f"--rows must be >= {len(SYMBOLS)}, --repeat >= 1, --streams in 1..4")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("psql") is None:
        sys.exit("psql is not on PATH: the \\copy baseline needs it")
    # SIGTERM unwinds exactly like Ctrl-C, so the finally blocks drop what we created. Not
    # sys.exit: a SystemExit raised mid-executemany (psycopg pipeline) was seen to get lost.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    settings = load_settings()
    with tempfile.TemporaryDirectory(prefix="underdog_bench_") as workdir:
        result = run(args.rows, args.repeat, settings, Path(workdir), args.streams)
    report(result)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)

"""Storage benchmark: bytes per tick and per bar in TimescaleDB's rowstore and columnstore,
beside the same ticks as Dukascopy `.bi5` hours (LZMA over 20-byte records).

Ticks with the statistics of a real session, from the project's simulator: prices on each
instrument's point grid, millisecond times whose rate follows the sessions (Asian lull,
London/New York overlap bursts, the 22:00 rollover, weekend closed), quoted sizes with two
decimals, several ticks in one millisecond. Checked against the format of the decoded
Dukascopy hour the tests use (tests/sources/test_dukascopy.py: integer points, ms offsets,
repeated milliseconds); that hour has four records, too few to fit rates on, so the rates
are the simulator's (underdog/sources/simulated.py).

In a throwaway database `underdog_bench_storage_<pid>` on UNDERDOG_DATABASE_URL's server
(must have TimescaleDB), migrated like production:
  1. ticks of --symbols x --days weekdays, and their M1 bars (bars_from_ticks), written with
     replace_window (ticks and ohlcv, as a backfill does), days old enough for the policies;
  2. rowstore size (hypertable_size: heap, indexes, TOAST) per tick and bar;
  3. `CALL run_job(id)` of each table's columnstore policy; hypertable_compression_stats;
  4. every tick and bar read back (tick_values, readers.bars) from the columnstore and
     compared bit for bit with what was written;
  5. the seed's float8 tick layout (0001) loaded with the same ticks and compressed the
     same way (baseline of the same run), and the ticks as .bi5 hours (dukascopy.encode_bi5).
The last line of stdout is one JSON object.

    UNDERDOG_DATABASE_URL=postgresql://postgres@127.0.0.1:5544/x .venv/bin/python \\
        bench/storage.py [--symbols 10 --days 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from underdog.config import load_settings
from underdog.market.backfill import tick_rows
from underdog.market.bars import bars_from_ticks
from underdog.reference.instruments import INSTRUMENTS
from underdog.sources import dukascopy
from underdog.sources.simulated import simulate_ticks
from underdog.store.db import Database
from underdog.store.offline import readers
from underdog.store.offline.copy_binary import encode_chunks
from underdog.store.offline.decimals import smallest_scales
from underdog.store.offline.writers import replace_window
from underdog.store.tables import OHLCV, TICKS

sys.path.insert(0, str(Path(__file__).parent))  # bench/ingest.py's throwaway database
from ingest import backend, pause_timescale_jobs, throwaway_database, throwaway_dsn  # noqa: E402

SEED = 20240305
# The seed's tick layout (revision 0001), for the same-run baseline.
LEGACY = """
CREATE TABLE underdog.ticks_float8 (
    symbol text NOT NULL, time timestamptz NOT NULL, seq bigint NOT NULL,
    bid double precision NOT NULL, ask double precision NOT NULL,
    bid_volume double precision, ask_volume double precision,
    available_at timestamptz NOT NULL, PRIMARY KEY (symbol, time, seq));
SELECT create_hypertable('underdog.ticks_float8', by_range('time', INTERVAL '1 day'));
ALTER TABLE underdog.ticks_float8 SET (timescaledb.enable_columnstore = true,
    timescaledb.segmentby = 'symbol', timescaledb.orderby = 'time DESC');
"""


def say(message: str) -> None:
    print(message, flush=True)


def first_day(days: int, now: datetime | None = None) -> datetime:
    """A Monday old enough that both columnstore policies (ohlcv after 30 days) take every
    day, young enough that no retention window (ticks: 90 days) would drop it."""
    today = (now or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=35 + days + days // 5 * 2)
    return start - timedelta(days=start.weekday())


def weekdays(start: datetime, count: int) -> list[datetime]:
    days, day = [], start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def make_ticks(symbols: list[str], days: list[datetime]) -> pd.DataFrame:
    frames = {s: pd.concat([simulate_ticks(s, d, d + timedelta(days=1), seed=SEED)
                            for d in days], ignore_index=True) for s in symbols}
    return tick_rows(frames)


def make_bars(ticks: pd.DataFrame) -> pd.DataFrame:
    frames = [bars_from_ticks(group, symbol=s) for s, group in ticks.groupby("symbol")]
    bars = pd.concat(frames, ignore_index=True)
    bars["source"] = "simulated"
    return bars


def tick_statistics(ticks: pd.DataFrame) -> dict:
    """What makes ticks compress: rates, gaps, same-millisecond repeats, steps, sizes."""
    per_symbol = ticks.groupby("symbol")
    gaps_ms = per_symbol["time"].diff().dt.total_seconds().dropna() * 1000
    steps = [np.abs(np.diff(np.rint(g["bid"].to_numpy() / INSTRUMENTS[s].point)))
             for s, g in per_symbol]
    spreads = [np.rint((g["ask"] - g["bid"]).to_numpy() / INSTRUMENTS[s].point)
               for s, g in per_symbol]
    step = np.concatenate(steps)
    return {
        "ticks_per_symbol_day": round(len(ticks) / per_symbol.ngroups
                                      / ticks["time"].dt.floor("D").nunique()),
        "gap_ms_p50": float(np.percentile(gaps_ms, 50)),
        "gap_ms_p99": float(np.percentile(gaps_ms, 99)),
        "same_ms_share": round(float((gaps_ms == 0).mean()), 4),
        "bid_step_points_p50": float(np.percentile(step, 50)),
        "bid_step_points_p99": float(np.percentile(step, 99)),
        "spread_points_p50": float(np.percentile(np.concatenate(spreads), 50)),
        "volume_two_decimals": bool(np.allclose(ticks["bid_volume"] * 100,
                                                np.rint(ticks["bid_volume"] * 100))),
    }


def bi5_bytes(ticks: pd.DataFrame) -> int:
    """Bytes of the ticks as Dukascopy hour files (LZMA preset 6, as the datafeed's)."""
    total = 0
    for (symbol, hour), group in ticks.groupby(["symbol", ticks["time"].dt.floor("h")]):
        total += len(dukascopy.encode_bi5(group, symbol=symbol, hour=hour.to_pydatetime()))
    return total


def run_policy(conn: psycopg.Connection, table: str) -> float:
    """CALL run_job of the table's columnstore policy: seconds taken."""
    job = conn.execute(
        "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression'"
        " AND hypertable_schema = 'underdog' AND hypertable_name = %s", (table,)).fetchone()
    if job is None:
        raise RuntimeError(f"underdog.{table} has no columnstore policy")
    started = time.perf_counter()
    conn.execute("CALL run_job(%s)", job)
    return time.perf_counter() - started


def sizes(conn: psycopg.Connection, table: str) -> dict:
    rowstore = conn.execute("SELECT hypertable_size(%s)", (f"underdog.{table}",)).fetchone()[0]
    before, after, chunks, compressed = conn.execute(
        "SELECT before_compression_total_bytes, after_compression_total_bytes, total_chunks,"
        " number_compressed_chunks FROM hypertable_compression_stats(%s)",
        (f"underdog.{table}",)).fetchone()
    return {"size": rowstore, "before": before, "after": after, "chunks": chunks,
            "compressed": compressed}


def column_bytes(conn: psycopg.Connection, table: str) -> dict[str, int]:
    """Bytes per column over the table's compressed chunks (where the bytes go)."""
    chunks = [r[0] for r in conn.execute(
        "SELECT format('%%I.%%I', c.schema_name, c.table_name) FROM _timescaledb_catalog.chunk c"
        " JOIN _timescaledb_catalog.chunk p ON p.compressed_chunk_id = c.id"
        " JOIN _timescaledb_catalog.hypertable h ON h.id = p.hypertable_id"
        " WHERE h.schema_name = 'underdog' AND h.table_name = %s", (table,))]
    totals: dict[str, int] = {}
    for chunk in chunks:
        names = [r[0] for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
            " AND NOT attisdropped", (chunk,))]
        row = conn.execute("SELECT " + ", ".join(
            f'coalesce(sum(pg_column_size("{n}")), 0)' for n in names) + f" FROM {chunk}"
        ).fetchone()
        for name, size in zip(names, row, strict=True):
            totals[name] = totals.get(name, 0) + int(size)
    return totals


def same_floats(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    return np.array_equal(np.isnan(a), np.isnan(b)) and \
        np.array_equal(a[~np.isnan(a)].view("int64"), b[~np.isnan(b)].view("int64"))


def check_ticks(conn: psycopg.Connection, ticks: pd.DataFrame) -> None:
    """Every tick read back from the columnstore through tick_values equals what was written."""
    names = TICKS.column_names
    rows = conn.execute(f"SELECT {', '.join(names)} FROM underdog.tick_values"
                        " ORDER BY symbol, time, seq").fetchall()
    got = pd.DataFrame(rows, columns=names)
    want = ticks.sort_values(["symbol", "time", "seq"]).reset_index(drop=True)
    if len(got) != len(want) or not (got["symbol"] == want["symbol"]).all():
        raise RuntimeError("ticks read back: rows differ")
    for column in ("time", "available_at"):
        if not (pd.DatetimeIndex(got[column]).as_unit("us")
                == pd.DatetimeIndex(want[column]).as_unit("us")).all():
            raise RuntimeError(f"ticks read back: {column} differs")
    for column in ("bid", "ask", "bid_volume", "ask_volume"):
        if not same_floats(got[column].to_numpy(dtype="float64", na_value=np.nan),
                           want[column].to_numpy(dtype="float64")):
            raise RuntimeError(f"ticks read back: {column} differs")


def check_bars(db: Database, bars: pd.DataFrame, days: list[datetime]) -> None:
    """readers.bars of every symbol and day from the columnstore equals what was written."""
    for symbol, group in bars.groupby("symbol"):
        got = pd.concat([readers.bars(db, symbol, d, d + timedelta(days=1)) for d in days])
        for column in readers.BAR_FIELDS:
            if not same_floats(got[column].to_numpy(dtype="float64"),
                               group[column].to_numpy(dtype="float64")):
                raise RuntimeError(f"bars read back: {symbol} {column} differs")


def load_legacy(conn: psycopg.Connection, ticks: pd.DataFrame) -> None:
    conn.execute(LEGACY)
    columns = TICKS.columns
    with conn.cursor() as cur, cur.copy(
            f"COPY underdog.ticks_float8 ({', '.join(TICKS.column_names)})"
            " FROM STDIN (FORMAT BINARY)") as copy:
        for piece in encode_chunks(ticks, columns):
            copy.write(piece)
    conn.execute("SELECT compress_chunk(c) FROM show_chunks('underdog.ticks_float8') c")


def timed(label: str, run: Callable[[], object]) -> object:
    started = time.perf_counter()
    out = run()
    say(f"  {label}: {time.perf_counter() - started:.1f} s")
    return out


def per(n: int, value: float | int | None) -> float | None:
    return None if value is None else round(float(value) / n, 3)


def measure(dsn: str, settings, symbols: list[str], days: list[datetime]) -> dict:
    ticks = timed("simulate ticks", lambda: make_ticks(symbols, days))
    bars = make_bars(ticks)
    stats = tick_statistics(ticks)
    say(f"data: {len(ticks):,} ticks, {len(bars):,} bars, {len(symbols)} symbols x"
        f" {len(days)} days from {days[0]:%Y-%m-%d}; {stats}")
    start, end = days[0], days[-1] + timedelta(days=1)
    with throwaway_database(dsn, settings), psycopg.connect(dsn, autocommit=True) as conn, \
            Database(dsn, reader_role=settings.reader_role) as db:
        name = backend(conn)
        if "timescaledb" not in name:
            raise SystemExit(f"{name}: bench/storage.py measures TimescaleDB's columnstore")
        pause_timescale_jobs(conn)
        say(f"backend: {name}")
        timed("write ticks (replace_window)", lambda: replace_window(
            db, TICKS, ticks, start=start, end=end, source="bench", streams=2))
        timed("write bars (replace_window)", lambda: replace_window(
            db, OHLCV, bars, start=start, end=end, source="bench", streams=2))
        conn.execute("VACUUM ANALYZE underdog.ticks, underdog.ohlcv")
        rowstore = {t: sizes(conn, t)["size"] for t in ("ticks", "ohlcv")}
        timed("columnstore policy, ticks", lambda: run_policy(conn, "ticks"))
        timed("columnstore policy, ohlcv", lambda: run_policy(conn, "ohlcv"))
        stats_ticks, stats_bars = sizes(conn, "ticks"), sizes(conn, "ohlcv")
        columns = column_bytes(conn, "ticks")
        bar_columns = column_bytes(conn, "ohlcv")
        timed("read back and compare", lambda: (check_ticks(conn, ticks),
                                                 check_bars(db, bars, days)))
        timed("seed float8 layout, load + compress", lambda: load_legacy(conn, ticks))
        legacy = sizes(conn, "ticks_float8")
    bi5 = timed("encode .bi5 hours", lambda: bi5_bytes(ticks))
    n, m = len(ticks), len(bars)
    return {
        "backend": name,
        "ticks": n,
        "bars": m,
        "symbols": len(symbols),
        "days": len(days),
        "bytes_per_tick_rowstore": per(n, rowstore["ticks"]),
        "bytes_per_tick_columnstore": per(n, stats_ticks["after"]),
        "bytes_per_tick_bi5": per(n, bi5),
        "bytes_per_bar_rowstore": per(m, rowstore["ohlcv"]),
        "bytes_per_bar_columnstore": per(m, stats_bars["after"]),
        "compression_ratio_ticks": round(1 - stats_ticks["after"] / stats_ticks["before"], 4),
        "compression_ratio_bars": round(1 - stats_bars["after"] / stats_bars["before"], 4),
        "columnstore_vs_bi5": round(stats_ticks["after"] / bi5, 3),
        "seed_layout_bytes_per_tick_rowstore": per(n, legacy["before"]),
        "seed_layout_bytes_per_tick_columnstore": per(n, legacy["after"]),
        "seed_layout_compression_ratio": round(1 - legacy["after"] / legacy["before"], 4),
        "tick_column_bytes_per_tick": {k: per(n, v) for k, v in columns.items()},
        "bar_column_bytes_per_bar": {k: per(m, v) for k, v in bar_columns.items()},
        # why spread stays float8 (revision 0012): a mean, on no decimal grid
        "bar_spreads_on_a_decimal_grid": round(float(
            (smallest_scales(bars["spread"].to_numpy(dtype="float64")) >= 0).mean()), 4),
        "chunks_compressed": {"ticks": [stats_ticks["compressed"], stats_ticks["chunks"]],
                              "ohlcv": [stats_bars["compressed"], stats_bars["chunks"]]},
        "read_back_identical": True,
        "tick_statistics": stats,
        "targets_met": {
            "columnstore_le_1.5x_bi5": stats_ticks["after"] <= 1.5 * bi5,
            "ticks_compression_ge_90pct": stats_ticks["after"] <= 0.1 * stats_ticks["before"],
            "bars_compression_ge_90pct": stats_bars["after"] <= 0.1 * stats_bars["before"],
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=10, help=f"<= {len(INSTRUMENTS)}")
    parser.add_argument("--days", type=int, default=5, help="weekdays of ticks")
    args = parser.parse_args(argv)
    if not 1 <= args.symbols <= len(INSTRUMENTS) or args.days < 1:
        parser.error(f"--symbols must be in 1..{len(INSTRUMENTS)} and --days >= 1")
    settings = load_settings()
    dsn = throwaway_dsn(settings.dsn, f"underdog_bench_storage_{os.getpid()}")
    days = weekdays(first_day(args.days), args.days)
    result = measure(dsn, settings, list(INSTRUMENTS)[: args.symbols], days)
    say(f"ticks  rowstore {result['bytes_per_tick_rowstore']} B, columnstore"
        f" {result['bytes_per_tick_columnstore']} B, .bi5 {result['bytes_per_tick_bi5']} B"
        f" (x{result['columnstore_vs_bi5']}); seed layout columnstore"
        f" {result['seed_layout_bytes_per_tick_columnstore']} B")
    say(f"bars   rowstore {result['bytes_per_bar_rowstore']} B, columnstore"
        f" {result['bytes_per_bar_columnstore']} B")
    say(f"compression ticks {result['compression_ratio_ticks']:.1%},"
        f" bars {result['compression_ratio_bars']:.1%}; targets {result['targets_met']}")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

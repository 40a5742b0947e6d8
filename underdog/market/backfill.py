"""Backfill of market data: a window's ticks from a source, their M1 bars, both written.

Sources (`SOURCES`):
- "simulated": the embedded seeded market (the default);
- "dukascopy": Dukascopy's public datafeed of hourly .bi5 files (`underdog.sources.dukascopy`);
  a corrupt hour is dead-lettered and the rest of the window still loads;
- "mt5": an MT5 terminal's tick history over the MQL5-JSON-API bridge
  (`underdog.sources.mt5`, imported only when chosen: it needs ZeroMQ and a bridge).

Bars come from the one tick -> M1 roller, `underdog.market.bars.bars_from_ticks`, over the
very ticks fetched for the window: every source's ticks are generated or fetched once.
Each table is written with `replace_window`: one transaction per table per window, so a
rerun leaves the same rows. A window that reaches past `now` (today) stops there: ticks up to
`now`, bars that closed by `now`; the replaced span ends at the last row written, so what the
streamer wrote after it stays. Afterwards the cached values the rewrite made wrong (latest bar
and state vector of each symbol) are reloaded from the table (`LatestCache.refresh_tables`).

Ticks rows:
- seq: the tick's position among ticks of the same (symbol, time), in source order, so the
  key (symbol, time, seq) is unique even when several quotes share a millisecond.
- available_at = time. A backfilled tick is the market's own record of the quote at `time`;
  a live strategy would have seen it then (network latency aside), so that is the honest
  point-in-time stamp. The backfill's wall clock would make all history look unknowable
  until today. (The live streamer stamps its receive time.)
- bid_volume / ask_volume: in the source's unit (simulated: lots; Dukascopy: millions of
  base units; MT5: what the bridge sends).
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import requests

from underdog.config import Market
from underdog.market.bars import bars_from_ticks
from underdog.reference.schema import BAR, TICK_COLUMNS
from underdog.sources import dukascopy
from underdog.sources.dukascopy import HourFailure
from underdog.sources.http import BACKOFF_S, TRIES
from underdog.sources.simulated import Edge, simulate_ticks
from underdog.store.db import Database
from underdog.store.offline import dead_letters
from underdog.store.offline.validation import write_moment
from underdog.store.offline.writers import WriteResult, replace_window
from underdog.store.online.cache import LatestCache
from underdog.store.tables import OHLCV, TICKS

SOURCES = ("simulated", "dukascopy", "mt5")
_MARKET = Market()  # the defaults, stated once in underdog.config
TABLES = frozenset({"ticks", "ohlcv"})


class SourceUnavailable(RuntimeError):
    """The chosen source cannot be used here (e.g. its module is not installed)."""


@dataclass(frozen=True)
class SourceOptions:
    """How to reach each source; only the chosen source's fields are used."""

    seed: int = 0  # simulated
    edge: float = 0.0  # simulated: the planted edge's strength (0: none)
    dukascopy_base_url: str = _MARKET.dukascopy.base_url
    dukascopy_cache_dir: str | None = None  # None or "": no cache
    dukascopy_tries: int = TRIES  # attempts per hour on 429/5xx/timeouts/connection errors
    dukascopy_backoff_s: float = BACKOFF_S  # first wait; doubles per retry
    mt5_host: str = _MARKET.mt5.host  # the MQL5-JSON-API bridge
    mt5_sys_port: int = _MARKET.mt5.sys_port
    mt5_data_port: int = _MARKET.mt5.data_port

    @classmethod
    def from_settings(cls, market: Market, **overrides: object) -> SourceOptions:
        """The options of the `settings.market` section (the one place that maps it)."""
        values = dict(
            seed=market.simulator.seed, edge=market.simulator.edge,
            dukascopy_base_url=market.dukascopy.base_url,
            dukascopy_cache_dir=market.dukascopy.cache_dir, mt5_host=market.mt5.host,
            mt5_sys_port=market.mt5.sys_port, mt5_data_port=market.mt5.data_port,
        )
        return cls(**{**values, **overrides})  # type: ignore[arg-type]


@dataclass
class BarBackfill:
    result: WriteResult
    bars: pd.DataFrame  # what was offered to the writer, all symbols


@dataclass
class MarketBackfill:
    """What a backfill wrote (None: that table was not asked for) and which hours failed."""

    source: str
    ticks: WriteResult | None
    bars: WriteResult | None
    tick_frame: pd.DataFrame  # `ticks` rows fetched, all symbols (written if asked for)
    bar_frame: pd.DataFrame  # `ohlcv` rows rolled from them, all symbols
    failed_hours: list[HourFailure] = field(default_factory=list)


def simulated_bars(symbols: Sequence[str], start: datetime, end: datetime, *,
                   seed: int, edge: float = 0.0) -> pd.DataFrame:
    """`ohlcv` rows of the simulated market: its ticks, rolled."""
    options = SourceOptions(seed=seed, edge=edge)
    ticks, _ = source_ticks("simulated", symbols, start, end, options)
    return roll_bars(ticks, symbols, source="simulated")


def backfill_bars(db: Database, symbols: Sequence[str], start: datetime, end: datetime, *,
                  seed: int, edge: float = 0.0) -> BarBackfill:
    """Replace [start, end) of `ohlcv` for `symbols` with the simulated market's bars."""
    bars = simulated_bars(symbols, start, end, seed=seed, edge=edge)
    result = replace_window(db, OHLCV, bars, start=start, end=end, source="simulated",
                            only={"symbol": list(symbols)}, symbols=symbols)
    return BarBackfill(result, bars)


def backfill(
    db: Database,
    symbols: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    source: str = "simulated",
    options: SourceOptions | None = None,
    tables: Collection[str] = TABLES,
    cache: LatestCache | None = None,
    now: datetime | None = None,
) -> MarketBackfill:
    """Replace [start, end) of `ticks` and `ohlcv` (those in `tables`) from `source`, up to
    `now` (default: the clock); then refresh `cache`'s values of the rewritten tables."""
    _check_request(source, tables)
    options = options or SourceOptions()
    now = write_moment(now)
    stop = max(start, min(end, now))  # nothing is fetched past now
    ticks, failures = source_ticks(source, symbols, start, stop, options)
    bars = roll_bars(ticks, symbols, source=source)
    bars = bars[bars["time"] + BAR <= now].reset_index(drop=True)  # closed bars only
    dead_letter_hours(db, failures, source=source)
    window = {"start": start, "end": end, "source": source, "now": now,
              "only": {"symbol": list(symbols)}, "symbols": symbols}
    tick_result = replace_window(db, TICKS, ticks, **window) if "ticks" in tables else None
    bar_result = replace_window(db, OHLCV, bars, **window) if "ohlcv" in tables else None
    if cache is not None and bar_result is not None:
        cache.refresh_tables(["ohlcv"], symbols)
    return MarketBackfill(source, tick_result, bar_result, ticks, bars, failures)


def _check_request(source: str, tables: Collection[str]) -> None:
    if source not in SOURCES:
        raise ValueError(f"unknown market source {source!r}; expected one of {SOURCES}")
    if unknown := set(tables) - TABLES:
        raise ValueError(f"cannot backfill {sorted(unknown)}; tables are {sorted(TABLES)}")


def source_ticks(
    source: str, symbols: Sequence[str], start: datetime, end: datetime, options: SourceOptions,
) -> tuple[pd.DataFrame, list[HourFailure]]:
    """Ticks of every symbol in [start, end) as `ticks` table rows, and the failed hours."""
    if source == "dukascopy":
        return _dukascopy(symbols, start, end, options)
    fetch = _mt5_history if source == "mt5" else _simulated_ticks
    frames = {s: fetch(s, start, end, options) for s in symbols}
    return tick_rows(frames), []


def _simulated_ticks(symbol: str, start: datetime, end: datetime,
                     options: SourceOptions) -> pd.DataFrame:
    planted = {"edge": Edge(options.edge)} if options.edge else {}
    return simulate_ticks(symbol, start, end, seed=options.seed, **planted)


def _dukascopy(symbols: Sequence[str], start: datetime, end: datetime,
               options: SourceOptions) -> tuple[pd.DataFrame, list[HourFailure]]:
    frames, failures = {}, []
    with requests.Session() as session:  # one connection pool for every hour and symbol
        for symbol in symbols:
            frames[symbol], failed = dukascopy.fetch_ticks(
                symbol, start, end, base_url=options.dukascopy_base_url,
                cache_dir=options.dukascopy_cache_dir, session=session,
                tries=options.dukascopy_tries, backoff_s=options.dukascopy_backoff_s,
            )
            failures += failed
    return tick_rows(frames), failures


def _mt5_history(symbol: str, start: datetime, end: datetime,
                 options: SourceOptions) -> pd.DataFrame:
    try:
        mt5 = importlib.import_module("underdog.sources.mt5")
    except ModuleNotFoundError as exc:
        if exc.name != "underdog.sources.mt5":
            raise  # the module exists but one of its own imports is missing: say that
        raise SourceUnavailable(
            "mt5 source not available: underdog.sources.mt5 is not installed"
        ) from None
    ticks = mt5.fetch_history(symbol, start, end, host=options.mt5_host,
                              data_port=options.mt5_data_port, sys_port=options.mt5_sys_port)
    return ticks.reindex(columns=TICK_COLUMNS)  # a source without volumes leaves them NULL


def tick_rows(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """`ticks` table rows from per-symbol tick frames (columns TICK_COLUMNS, any order)."""
    parts = [_rows(symbol, frame) for symbol, frame in frames.items() if len(frame)]
    if not parts:
        return _rows("", dukascopy.empty_ticks())
    return pd.concat(parts, ignore_index=True)


def _rows(symbol: str, ticks: pd.DataFrame) -> pd.DataFrame:
    # Stable sort: ticks sharing a time keep source order, which seq then records.
    rows = ticks[TICK_COLUMNS].sort_values("time", kind="stable").reset_index(drop=True)
    rows.insert(0, "symbol", symbol)
    rows["seq"] = rows.groupby("time", sort=False).cumcount().astype("int64")
    rows["available_at"] = rows["time"]
    return rows[TICKS.column_names]


def roll_bars(ticks: pd.DataFrame, symbols: Sequence[str], *, source: str) -> pd.DataFrame:
    """`ohlcv` rows of every symbol, rolled from its rows of `ticks` (`tick_rows`)."""
    by_symbol = dict(tuple(ticks.groupby("symbol", sort=False)))
    frames = [bars_from_ticks(by_symbol.get(s, ticks.iloc[:0]), symbol=s) for s in symbols]
    bars = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    bars["source"] = source
    return bars


def dead_letter_hours(db: Database, failures: Sequence[HourFailure], *, source: str) -> None:
    """One dead letter per failed hour (target `ticks`): a log, so a rerun adds another."""
    dead_letters.write(db, [(source, "ticks", f"corrupt hour: {f.error}", f.payload())
                            for f in failures])

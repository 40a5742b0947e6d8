"""underdog market: backfill, decode-bi5, bars."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from underdog.config import get_settings
from underdog_cli import arguments
from underdog_cli.common import bar_packs, cache, console, database, status
from underdog_cli.errors import fail

if TYPE_CHECKING:
    import pandas as pd

    from underdog.market.backfill import MarketBackfill, SourceOptions
    from underdog.store.db import Database
    from underdog.store.online.cache import LatestCache

app = typer.Typer(no_args_is_help=True, help="Market data: backfill and read bars.")


@app.command("backfill")
def market_backfill(
    start: Annotated[datetime, typer.Option(parser=arguments.day,
                                            help="first UTC day, YYYY-MM-DD")],
    end: Annotated[datetime, typer.Option(parser=arguments.day,
                                          help="last UTC day (inclusive), YYYY-MM-DD")],
    symbol: Annotated[list[str] | None, typer.Option(
        parser=arguments.symbol, help="symbols (default: UNDERDOG_SYMBOLS)")] = None,
    source: str | None = typer.Option(None, help="simulated | dukascopy | mt5 "
                                                 "(default: UNDERDOG_MARKET_SOURCE)"),
    mt5_host: str | None = typer.Option(
        None, help="mt5: the bridge's host (default: UNDERDOG_MT5_HOST)"),
    mt5_sys_port: int | None = typer.Option(
        None, help="mt5: the bridge's system (REQ) port (default: UNDERDOG_MT5_SYS_PORT)"),
    mt5_data_port: int | None = typer.Option(
        None, help="mt5: the bridge's data (PULL) port (default: UNDERDOG_MT5_DATA_PORT)"),
) -> None:
    """Write ticks and M1 bars for whole UTC days, one day per transaction per table."""
    from rich.progress import track

    from underdog.market.backfill import SOURCES, SourceOptions

    settings = get_settings()
    arguments.ordered(start, end, ("--start", "--end"), end_inclusive=True)
    source = arguments.choice(source or settings.market.source, SOURCES, "--source")
    symbols = symbol or settings.symbols
    # No planted edge here: this command backfills the plain walk, as it always has.
    bridge = {"mt5_host": mt5_host, "mt5_sys_port": mt5_sys_port, "mt5_data_port": mt5_data_port}
    options = SourceOptions.from_settings(
        settings.market, edge=0.0, **{k: v for k, v in bridge.items() if v is not None})
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    bars = ticks = rejected = 0
    failed: list[str] = []
    with database() as db:
        latest = cache(db)  # the cached bar and state vector each day rewrites: refreshed
        for one_day in track(days, description=f"backfilling from {source}", console=status):
            run = _backfill_day(db, latest, symbols, one_day, source, options)
            bars, ticks = bars + run.bars.written, ticks + run.ticks.written
            rejected += run.bars.rejected + run.ticks.rejected
            failed += [f.error for f in run.failed_hours]  # each names its symbol and hour
    console.print(f"{bars:,} bars and {ticks:,} ticks written, {rejected:,} rejected to "
                  f"dead_letters, {len(failed)} failed hours")
    for line in failed:
        console.print(f"  failed: {line}", markup=False)


def _backfill_day(db: Database, latest: LatestCache, symbols: list[str], day: datetime,
                  source: str, options: SourceOptions) -> MarketBackfill:
    """One day's backfill; a source that cannot be used ends the command with its reason."""
    from underdog.market.backfill import SourceUnavailable, backfill
    from underdog.sources.dukascopy import DukascopyUnavailable

    try:
        return backfill(db, symbols, day, day + timedelta(days=1), source=source,
                        options=options, cache=latest)
    except (SourceUnavailable, DukascopyUnavailable, ValueError) as exc:
        fail(f"{day:%Y-%m-%d}: {exc}")


@app.command("decode-bi5")
def market_decode_bi5(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                         help="a Dukascopy .bi5 file")],
    symbol: Annotated[str, typer.Option(parser=arguments.symbol,
                                        help="the file's instrument, e.g. EURUSD")],
    hour: Annotated[datetime, typer.Option(parser=arguments.hour,
                                           help="the file's UTC hour, YYYY-MM-DDTHH")],
) -> None:
    """Print one hour's Dukascopy ticks as CSV (UTC times to the millisecond)."""
    from underdog.reference.instruments import get_instrument
    from underdog.sources.dukascopy import decode_bi5

    instrument = get_instrument(symbol)
    try:
        ticks = decode_bi5(file.read_bytes(), symbol=instrument.symbol, hour=hour)
    except ValueError as exc:  # Bi5Error included: a corrupt file, or past an hour's ceiling
        fail(f"{file.name}: {exc}")
    sys.stdout.write(_ticks_csv(ticks, instrument.digits))


def _ticks_csv(ticks: pd.DataFrame, digits: int) -> str:
    """CSV with times as 2024-03-05T14:00:00.123Z and prices at the instrument's decimals."""
    price = f"{{:.{digits}f}}".format
    frame = ticks.assign(
        time=ticks["time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z",
        bid=ticks["bid"].map(price), ask=ticks["ask"].map(price),
    )
    return frame.to_csv(index=False, lineterminator="\n")


@app.command("bars")
def market_bars(
    symbol: Annotated[str, typer.Argument(parser=arguments.symbol, help="e.g. EURUSD")],
    start: Annotated[datetime, typer.Argument(parser=arguments.day, help="first UTC day")],
    end: Annotated[datetime, typer.Argument(parser=arguments.day, help="day after the last")],
    timeframe: Annotated[str, typer.Option(parser=arguments.timeframe,
                                           help="1m, 1h or 1d")] = "1m",
) -> None:
    """Print bars of [start, end) as CSV (whole M1 days through the Redis bar packs)."""
    from underdog.store.offline.readers import bars

    arguments.ordered(start, end, ("start", "end"))
    with database() as db:
        if timeframe == "1m":
            frame = bar_packs().bars(db, symbol, start, end)
        else:
            frame = bars(db, symbol, start, end, timeframe)
    frame.to_csv(sys.stdout)



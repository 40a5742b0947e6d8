"""`underdog`: operate and inspect the feature store (Dagster orchestrates; this operates)."""

from __future__ import annotations

import os
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.table import Table as RichTable

from underdog.config import ConfigError, get_settings

if TYPE_CHECKING:  # the commands import their modules lazily: `underdog --help` stays fast
    import pandas as pd

    from underdog.ingest import MarketBackfill, SourceOptions
    from underdog.store.db import Database

app = typer.Typer(no_args_is_help=True, help=__doc__, pretty_exceptions_enable=False)
db_app = typer.Typer(no_args_is_help=True, help="Databases and migrations.")
market_app = typer.Typer(no_args_is_help=True, help="Market data: backfill and read bars.")
features_app = typer.Typer(no_args_is_help=True, help="The state vector: build, latest, list.")
app.add_typer(db_app, name="db")
app.add_typer(market_app, name="market")
app.add_typer(features_app, name="features")
macro_app = typer.Typer(no_args_is_help=True, help="Macro: FRED vintages and as-of values.")
insider_app = typer.Typer(no_args_is_help=True, help="Insider filings: Form 4 documents.")
app.add_typer(macro_app, name="macro")
app.add_typer(insider_app, name="insider")
sentiment_app = typer.Typer(no_args_is_help=True, help="Sentiment: fetch sources, score texts.")
app.add_typer(sentiment_app, name="sentiment")
console = Console()


def _fail(message: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(2)


def _day(value: str) -> datetime:
    return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)


def _database():
    from underdog.store.db import Database

    settings = get_settings()
    return Database(settings.dsn, reader_role=settings.reader_role,
                    max_size=settings.pool_max_size)


@db_app.command("create")
def db_create() -> None:
    """Create the feature-store database (and Dagster's, from DAGSTER_PG_URL) if missing."""
    from underdog.store.admin import create_database

    targets = [("UNDERDOG_DATABASE_URL", get_settings().dsn)]
    if os.environ.get("DAGSTER_PG_URL"):
        targets.append(("DAGSTER_PG_URL", os.environ["DAGSTER_PG_URL"]))
    for variable, dsn in targets:
        created = create_database(dsn, variable=variable)
        console.print(f"{variable}: {'created' if created else 'exists'}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations (idempotent)."""
    from underdog.store import migrate

    settings = get_settings()
    revision = migrate.upgrade(settings.dsn, timescale=settings.timescale,
                               reader_role=settings.reader_role)
    with _database() as db:
        backend = "TimescaleDB" if db.is_timescale else "PostgreSQL (no TimescaleDB)"
    console.print(f"database at revision [bold]{revision}[/] on {backend}")


@db_app.command("status")
def db_status() -> None:
    """Tables: rows, time range, size, chunks and compression (TimescaleDB)."""
    from underdog.store import migrate
    from underdog.store.status import table_status

    settings = get_settings()
    with _database() as db:
        rows = table_status(db)
        backend = "TimescaleDB" if db.is_timescale else "PostgreSQL"
    table = RichTable(title=f"underdog @ {migrate.current(settings.dsn)} ({backend})")
    for column in ("table", "rows", "first", "last", "size", "chunks", "compression"):
        table.add_column(column, justify="right" if column in ("rows", "size") else "left")
    for s in rows:
        ratio = f"{s.compression_ratio:.1f}x" if s.compression_ratio else "-"
        chunks = f"{s.chunks} ({s.compressed_chunks} compressed)" if s.chunks is not None else "-"
        table.add_row(s.name, f"{s.rows:,}", _when(s.first), _when(s.last),
                      f"{s.size_bytes / 1e6:.1f} MB", chunks, ratio)
    console.print(table)


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "-"


@db_app.command("retention")
def db_retention() -> None:
    """Delete rows older than each table's retention window (plain PostgreSQL's policy)."""
    with _database() as db, db.connection() as conn, conn.transaction():
        for name, deleted in conn.execute("SELECT * FROM underdog.apply_retention()"):
            console.print(f"{name}: {deleted} rows deleted")


@market_app.command("backfill")
def market_backfill(
    start: str = typer.Option(..., help="first UTC day, YYYY-MM-DD"),
    end: str = typer.Option(..., help="last UTC day (inclusive), YYYY-MM-DD"),
    symbol: list[str] = typer.Option(None, help="symbols (default: UNDERDOG_SYMBOLS)"),  # noqa: B008
    source: str | None = typer.Option(None, help="simulated | dukascopy | mt5 "
                                                 "(default: UNDERDOG_MARKET_SOURCE)"),
    mt5_host: str = typer.Option("127.0.0.1", help="mt5: the bridge's host"),
    mt5_sys_port: int = typer.Option(15555, help="mt5: the bridge's system (REQ) port"),
    mt5_data_port: int = typer.Option(15556, help="mt5: the bridge's data (PULL) port"),
) -> None:
    """Write ticks and M1 bars for whole UTC days, one day per transaction per table."""
    from rich.progress import track

    from underdog.ingest import SOURCES, SourceOptions

    settings = get_settings()
    source = source or settings.market_source
    if source not in SOURCES:
        _fail(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")
    symbols = [s.upper() for s in symbol] if symbol else settings.symbols
    options = SourceOptions(
        seed=settings.simulator_seed, dukascopy_base_url=settings.dukascopy_base_url,
        dukascopy_cache_dir=settings.dukascopy_cache_dir, mt5_host=mt5_host,
        mt5_sys_port=mt5_sys_port, mt5_data_port=mt5_data_port,
    )
    first, last = _day(start), _day(end)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    bars = ticks = rejected = 0
    failed: list[str] = []
    with _database() as db:
        for day in track(days, description=f"backfilling from {source}", console=console):
            run = _backfill_day(db, symbols, day, source, options)
            bars, ticks = bars + run.bars.written, ticks + run.ticks.written
            rejected += run.bars.rejected + run.ticks.rejected
            failed += [f.error for f in run.failed_hours]  # each names its symbol and hour
    console.print(f"{bars:,} bars and {ticks:,} ticks written, {rejected:,} rejected to "
                  f"dead_letters, {len(failed)} failed hours")
    for line in failed:
        console.print(f"  failed: {line}", markup=False)


def _backfill_day(db: Database, symbols: list[str], day: datetime, source: str,
                  options: SourceOptions) -> MarketBackfill:
    """One day's backfill; a source that cannot be used ends the command with its reason."""
    from underdog.ingest import SourceUnavailable, backfill
    from underdog.sources.dukascopy import DukascopyUnavailable

    try:
        return backfill(db, symbols, day, day + timedelta(days=1), source=source,
                        options=options)
    except (SourceUnavailable, DukascopyUnavailable, ValueError) as exc:
        _fail(f"{day:%Y-%m-%d}: {exc}")


@market_app.command("decode-bi5")
def market_decode_bi5(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="a Dukascopy .bi5 file"),  # noqa: B008
    symbol: str = typer.Option(..., help="the file's instrument, e.g. EURUSD"),
    hour: str = typer.Option(..., help="the file's UTC hour, YYYY-MM-DDTHH"),
) -> None:
    """Print one hour's Dukascopy ticks as CSV (UTC times to the millisecond)."""
    from underdog.instruments import get_instrument
    from underdog.sources.dukascopy import decode_bi5

    try:
        instrument = get_instrument(symbol.upper())
        ticks = decode_bi5(file.read_bytes(), symbol=instrument.symbol, hour=_hour(hour))
    except ValueError as exc:  # Bi5Error included: a corrupt file
        _fail(str(exc))
    sys.stdout.write(_ticks_csv(ticks, instrument.digits))


def _aware(value: str, expected: str) -> datetime:
    """An ISO-8601 time, UTC unless it carries an offset; `expected` explains a bad one."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{expected}, got {value!r}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _hour(value: str) -> datetime:
    """An hour like 2024-03-05T14, in UTC."""
    return _aware(value, "--hour must look like 2024-03-05T14").astimezone(UTC)


def _ticks_csv(ticks: pd.DataFrame, digits: int) -> str:
    """CSV with times as 2024-03-05T14:00:00.123Z and prices at the instrument's decimals."""
    price = f"{{:.{digits}f}}".format
    frame = ticks.assign(
        time=ticks["time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z",
        bid=ticks["bid"].map(price), ask=ticks["ask"].map(price),
    )
    return frame.to_csv(index=False, lineterminator="\n")


@market_app.command("bars")
def market_bars(
    symbol: str, start: str, end: str,
    timeframe: str = typer.Option("1m", help="1m, 1h or 1d"),
) -> None:
    """Print bars of [start, end) as CSV."""
    from underdog.store.readers import bars

    with _database() as db:
        frame = bars(db, symbol.upper(), _day(start), _day(end), timeframe)
    frame.to_csv(sys.stdout)


def _cache(db: Database):
    from underdog.store.cache import LatestCache
    from underdog.store.readers import latest

    settings = get_settings()
    return LatestCache.from_url(
        settings.redis_url.get_secret_value(), prefix=settings.redis_prefix,
        ttl_s=settings.cache_ttl_s, loader=lambda k, s, src: latest(db, k, s, src),
    )


@features_app.command("build")
def features_build(
    symbol: str = typer.Option(..., help="e.g. EURUSD"),
    start: str = typer.Option(..., help="first UTC day, YYYY-MM-DD"),
    end: str = typer.Option(..., help="day after the last, YYYY-MM-DD"),
) -> None:
    """Print the training frame (14 features per closed M1 bar) of [start, end) as CSV."""
    from underdog.features.state_vector import training_frame

    with _database() as db:
        training_frame(db, symbol.upper(), _day(start), _day(end)).to_csv(sys.stdout)


@features_app.command("latest")
def features_latest(symbol: str) -> None:
    """Compute the latest bar's vector online, publish it to Redis, and print it."""
    from underdog.features.online import latest_state, update_online

    with _database() as db:
        cache = _cache(db)
        update_online(db, cache, symbol.upper())
        state = latest_state(cache, symbol.upper())
    if state is None:
        _fail(f"no state vector for {symbol.upper()}: not enough bars yet")
    table = RichTable(title=f"{symbol.upper()} @ {state['time']:%Y-%m-%d %H:%M} UTC")
    table.add_column("feature")
    table.add_column("value", justify="right")
    for name, value in state.items():
        if name not in ("symbol", "time", "available_at", "feature_version"):
            table.add_row(name, f"{value:.8g}")
    console.print(table)


@features_app.command("list")
def features_list() -> None:
    """The feature registry: names, definitions, dependencies."""
    from underdog.features.registry import FEATURE_VERSION, describe

    table = RichTable(title=f"feature_version {FEATURE_VERSION}")
    for column in ("#", "name", "definition", "depends_on"):
        table.add_column(column)
    for row in describe():
        table.add_row(*row.values())
    console.print(table)


@macro_app.command("fetch")
def macro_fetch(
    series: list[str] = typer.Option(None, help="FRED series ids (default: UNDERDOG_FRED_SERIES)"),  # noqa: B008
    start: str | None = typer.Option(None, help="first publication day, YYYY-MM-DD "
                                                "(default: every vintage)"),
    end: str | None = typer.Option(None, help="last publication day (inclusive), YYYY-MM-DD "
                                              "(default: today)"),
    source: str | None = typer.Option(None, help="auto | fixture | fred "
                                                 "(default: UNDERDOG_MACRO_SOURCE)"),
) -> None:
    """Write the vintages published from --start to --end (upsert); cache the latest values."""
    from underdog.macro import choose_source, fetch_and_write
    from underdog.sources.fred import FredUnavailable

    settings = get_settings()
    key = settings.fred_api_key.get_secret_value() if settings.fred_api_key else None
    try:
        vintages, label = choose_source(source or settings.macro_source, api_key=key,
                                        base_url=settings.fred_base_url)
    except ValueError as exc:
        _fail(str(exc))
    if vintages is None:
        _fail(label)
    ids = [s.upper() for s in series] if series else settings.fred_series
    first = _day(start).date() if start else None
    last = (_day(end) if end else datetime.now(UTC)).date() + timedelta(days=1)
    with _database() as db:
        try:
            run = fetch_and_write(db, ids, first, last, source=vintages, label=label,
                                  cache=_cache(db))
        except FredUnavailable as exc:
            _fail(str(exc))
    table = RichTable(title=f"macro_indicators from {label}, published "
                            f"{first or 'any day'} .. {last - timedelta(days=1)}")
    for column in ("series", "rows", "revisions", "missing", "observations", "cached"):
        table.add_column(column, justify="right" if column in ("rows", "revisions",
                                                               "missing") else "left")
    for s in run.series:
        table.add_row(s.series_id, str(s.written), str(s.revisions), str(s.missing),
                      f"{s.first_observation} .. {s.last_observation}",
                      "yes" if s.cached else "no")
    console.print(table)
    if run.not_in_source:
        console.print(f"not in the {label}: {', '.join(run.not_in_source)}")
    if run.errors:
        _fail("; ".join(f"{k}: {v}" for k, v in run.errors.items()))


@macro_app.command("asof")
def macro_asof_value(
    series_id: str = typer.Argument(..., metavar="ID", help="a FRED series id, e.g. VIXCLS"),
    at: str = typer.Argument(..., metavar="TIME", help="ISO time (UTC unless it has an "
                                                       "offset), or a day (its 00:00 UTC)"),
    include_missing: bool = typer.Option(False, help="show a '.' (missing) newest value "
                                                     "instead of the value before it"),
) -> None:
    """Print the value of a series known at TIME, with its observation date and vintage."""
    from underdog.macro import macro_asof

    moment = _moment(at)
    with _database() as db:
        row = macro_asof(db, series_id.upper(), moment, skip_missing=not include_missing)
    if row is None:
        _fail(f"nothing of {series_id.upper()} was known at {moment.isoformat()}")
    value = "." if row["value"] is None else f"{row['value']:g}"
    until = row["realtime_end"].isoformat() if row["realtime_end"] else "current"
    typer.echo(f"series       {row['series_id']} ({row['name']}, {row['units']})\n"
               f"known at     {moment.isoformat()}\n"
               f"value        {value}\n"
               f"observation  {row['time'].astimezone(UTC).date().isoformat()}\n"
               f"vintage      {row['realtime_start'].isoformat()} .. {until}\n"
               f"available_at {row['available_at'].astimezone(UTC).isoformat()}")


def _moment(value: str) -> datetime:
    """A time like 2024-03-12T15:00 or 2024-03-12T15:00-05:00 or 2024-03-12 (UTC default)."""
    return _aware(value, "TIME must look like 2024-03-12T15:00 or 2024-03-12")


@insider_app.command("parse-form4")
def insider_parse_form4(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="a Form 4 XML file"),  # noqa: B008
) -> None:
    """Print a Form 4's transactions as CSV: one row per non-derivative and derivative one."""
    from underdog.insider import Form4Error, parse_form4, transactions_csv

    try:
        transactions = parse_form4(file.read_bytes())
    except Form4Error as exc:
        _fail(f"{file.name}: {exc}")
    sys.stdout.write(transactions_csv(transactions))


def _window_bound(value: str) -> datetime:
    """A day (2024-03-08) or a time (2024-03-08T14:30), in UTC."""
    return _aware(value, "expected a day or a time like 2024-03-08T14:30").astimezone(UTC)


@sentiment_app.command("fetch")
def sentiment_fetch(
    source: str = typer.Option(..., help="newsapi | gnews | reddit | alphavantage | fixture"),
    since: str | None = typer.Option(None, help="from, a day or a time (default: 24 h ago)"),
    until: str | None = typer.Option(None, help="to (exclusive), a day or a time "
                                                "(default: now)"),
) -> None:
    """Fetch one source, store its new documents, score them, publish the latest to Redis."""
    from underdog.sentiment.loading import load_scorer
    from underdog.sentiment.options import ALL_SOURCES, SentimentOptions
    from underdog.sentiment.pipeline import collect, publish_latest, score_window

    if source not in ALL_SOURCES:
        _fail(f"unknown source {source!r}; use one of {', '.join(ALL_SOURCES)}")
    options = SentimentOptions.from_settings(get_settings())
    now = datetime.now(UTC)
    end = _window_bound(until) if until else now
    start = _window_bound(since) if since else end - timedelta(days=1)
    with _database() as db:
        run = collect(db, source, start, end, options, now=now)
        if run.skipped:
            _fail(f"{source} skipped: {run.skipped}")
        loaded = load_scorer(options.finbert_model, quantize=options.finbert_quantize)
        scored = score_window(db, loaded, start, end, options=options)
        keys = publish_latest(_cache(db), scored.rows, replaced=scored.replaced > 0)
    console.print(f"{source}: {run.fetched} fetched, {run.stored} new, {run.duplicates} "
                  f"duplicates; {len(scored.rows)} scores by {scored.model} "
                  f"({scored.scored_texts} texts through the model, {scored.cache_hits} "
                  f"from the cache); {keys} Redis keys updated")


@sentiment_app.command("score")
def sentiment_score(texts: list[str] = typer.Argument(..., help="texts to score")) -> None:  # noqa: B008
    """Score texts with UNDERDOG_FINBERT_MODEL (or the lexicon fallback)."""
    from underdog.sentiment.loading import load_scorer

    settings = get_settings()
    loaded = load_scorer(settings.finbert_model, quantize=settings.finbert_quantize)
    if loaded.is_fallback:
        console.print(f"[bold yellow]warning:[/] {loaded.fallback_reason}: scored by the "
                      f"lexicon fallback, not the model")
    table = RichTable()
    for column in ("text", "score", "confidence", "label", "model"):
        table.add_column(column, justify="right" if column in ("score", "confidence") else "left")
    for text, score in zip(texts, loaded.scorer.score(texts), strict=True):
        table.add_row(text, f"{score.sentiment:+.3f}", f"{score.confidence:.3f}", score.label,
                      score.model)
    console.print(table)


@app.command()
def demo() -> None:
    """Migrate, materialize the asset graph for a few days x 2 symbols, print a summary."""
    os.environ.setdefault("DAGSTER_HOME", str(Path.cwd()))
    db_create()
    db_upgrade()
    # The demo drives Dagster; the core library itself never imports it.
    from underdog.report import print_demo
    from underdog_assets.demo import run_demo

    with console.status("materializing the asset graph..."):
        runs = run_demo()
    print_demo(console, runs)
    stream = _demo_stream()
    db_status()
    if not all(r.success for r in runs) or stream.get("lost"):
        raise typer.Exit(1)


def _demo_stream(seconds: float = 5.0) -> dict:
    """A few seconds of the live path: fake MT5 bridge -> streamer -> PostgreSQL + Redis."""
    from underdog_streaming.demo import run_demo as stream_demo

    with console.status(f"streaming live ticks from the fake MT5 bridge for {seconds:.0f} s..."):
        result = stream_demo(seconds)
    console.print(
        f"live stream: {result['sent']:,} ticks sent, {result['written']:,} written, "
        f"{result['rejected']} rejected, {result['lost']} lost; p99 tick->Redis "
        f"{result['redis_p99_ms']} ms, tick->database {result['db_p99_ms']} ms"
    )
    return result


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        console.print(f"[bold red]configuration error:[/] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()

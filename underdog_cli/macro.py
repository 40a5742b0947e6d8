"""underdog macro: fetch, asof."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table as RichTable

from underdog.config import get_settings
from underdog_cli import arguments
from underdog_cli.common import cache, console, database
from underdog_cli.errors import fail

app = typer.Typer(no_args_is_help=True, help="Macro: FRED vintages and as-of values.")


@app.command("fetch")
def macro_fetch(
    series: Annotated[list[str] | None, typer.Option(
        parser=arguments.series_id, help="FRED series ids (default: UNDERDOG_FRED_SERIES)")
    ] = None,
    start: Annotated[datetime | None, typer.Option(
        parser=arguments.day, help="first publication day, YYYY-MM-DD (default: every "
                                   "vintage)")] = None,
    end: Annotated[datetime | None, typer.Option(
        parser=arguments.day, help="last publication day (inclusive), YYYY-MM-DD "
                                   "(default: today)")] = None,
    source: str | None = typer.Option(None, help="auto | fixture | fred "
                                                 "(default: UNDERDOG_MACRO_SOURCE)"),
) -> None:
    """Write the vintages published from --start to --end (upsert); cache the latest values."""
    from underdog.macro.vintages import SOURCES, choose_source, fetch_and_write
    from underdog.sources.fred import FredUnavailable

    settings = get_settings()
    arguments.ordered(start, end, ("--start", "--end"), end_inclusive=True)
    fred = settings.macro.fred
    key = fred.api_key.get_secret_value() if fred.api_key else None
    mode = arguments.choice(source or settings.macro.source, SOURCES, "--source")
    vintages, label = choose_source(mode, api_key=key, base_url=fred.base_url)
    if vintages is None:
        fail(label)
    ids = series or fred.series
    first = start.date() if start else None
    last = (end or datetime.now(UTC)).date() + timedelta(days=1)
    with database() as db:
        try:
            run = fetch_and_write(db, ids, first, last, source=vintages, label=label,
                                  cache=cache(db))
        except FredUnavailable as exc:
            fail(str(exc))
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
        fail("; ".join(f"{k}: {v}" for k, v in run.errors.items()))


@app.command("asof")
def macro_asof_value(
    series_id: Annotated[str, typer.Argument(metavar="ID", parser=arguments.series_id,
                                             help="a FRED series id, e.g. VIXCLS")],
    at: Annotated[datetime, typer.Argument(metavar="TIME", parser=arguments.moment,
                                           help="ISO time (UTC unless it has an offset), or "
                                                "a day (its 00:00 UTC)")],
    include_missing: bool = typer.Option(False, help="show a '.' (missing) newest value "
                                                     "instead of the value before it"),
) -> None:
    """Print the value of a series known at TIME, with its observation date and vintage."""
    from underdog.macro.vintages import macro_asof

    with database() as db:
        row = macro_asof(db, series_id, at, skip_missing=not include_missing)
    if row is None:
        fail(f"nothing of {series_id} was known at {at.isoformat()}")
    value = "." if row["value"] is None else repr(row["value"])  # as stored, every digit
    until = row["realtime_end"].isoformat() if row["realtime_end"] else "current"
    typer.echo(f"series       {row['series_id']} ({row['name']}, {row['units']})\n"
               f"known at     {at.isoformat()}\n"
               f"value        {value}\n"
               f"observation  {row['time'].astimezone(UTC).date().isoformat()}\n"
               f"vintage      {row['realtime_start'].isoformat()} .. {until}\n"
               f"available_at {row['available_at'].astimezone(UTC).isoformat()}")



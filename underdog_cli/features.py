"""underdog features: build, latest, list."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table as RichTable

from underdog_cli import arguments
from underdog_cli.common import cache, console, database, status
from underdog_cli.errors import fail

app = typer.Typer(no_args_is_help=True, help="The state vector: build, latest, list.")


@app.command("build")
def features_build(
    symbol: Annotated[str, typer.Option(parser=arguments.symbol, help="e.g. EURUSD")],
    start: Annotated[datetime, typer.Option(parser=arguments.day,
                                            help="first UTC day, YYYY-MM-DD")],
    end: Annotated[datetime, typer.Option(parser=arguments.day,
                                          help="day after the last, YYYY-MM-DD")],
) -> None:
    """Print the training frame (14 features per closed M1 bar) of [start, end) as CSV."""
    from underdog.features.state_vector import training_frame

    arguments.ordered(start, end, ("--start", "--end"))
    with database() as db:
        training_frame(db, symbol, start, end).to_csv(sys.stdout)


@app.command("latest")
def features_latest(
    symbol: Annotated[str, typer.Argument(parser=arguments.symbol, help="e.g. EURUSD")],
) -> None:
    """Compute the latest bar's vector online, publish it to Redis, and print it."""
    from underdog.features.online import update_online

    with database() as db:
        latest = cache(db)
        state = update_online(db, latest, symbol)
    if state is None:
        fail(f"no state vector for {symbol}: not enough bars yet")
    if latest.stats["error"]:  # Redis down or hung: the vector is still the database's
        status.print(f"note: Redis unreachable, {symbol}'s vector was computed from the "
                     f"database and not published", markup=False)
    table = RichTable(title=f"{symbol} @ {state['time']:%Y-%m-%d %H:%M} UTC")
    table.add_column("feature")
    table.add_column("value", justify="right", no_wrap=True)  # every digit
    for name, value in state.items():
        if name not in ("symbol", "time", "available_at", "feature_version"):
            table.add_row(name, repr(value))
    console.print(table)


@app.command("list")
def features_list() -> None:
    """The feature registry: names, definitions, dependencies."""
    from underdog.features.registry import FEATURE_VERSION, describe

    table = RichTable(title=f"feature_version {FEATURE_VERSION}")
    for column in ("#", "name", "definition", "depends_on"):
        table.add_column(column)
    for row in describe():
        table.add_row(*row.values())
    console.print(table)



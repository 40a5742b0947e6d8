"""underdog features: build, latest, list."""

from __future__ import annotations

import sys

import typer
from rich.table import Table as RichTable

from underdog.cli.common import cache, console, database, day, fail

app = typer.Typer(no_args_is_help=True, help="The state vector: build, latest, list.")


@app.command("build")
def features_build(
    symbol: str = typer.Option(..., help="e.g. EURUSD"),
    start: str = typer.Option(..., help="first UTC day, YYYY-MM-DD"),
    end: str = typer.Option(..., help="day after the last, YYYY-MM-DD"),
) -> None:
    """Print the training frame (14 features per closed M1 bar) of [start, end) as CSV."""
    from underdog.features.state_vector import training_frame

    with database() as db:
        training_frame(db, symbol.upper(), day(start), day(end)).to_csv(sys.stdout)


@app.command("latest")
def features_latest(symbol: str) -> None:
    """Compute the latest bar's vector online, publish it to Redis, and print it."""
    from underdog.features.online import latest_state, update_online

    with database() as db:
        latest = cache(db)
        update_online(db, latest, symbol.upper())
        state = latest_state(latest, symbol.upper())
    if state is None:
        fail(f"no state vector for {symbol.upper()}: not enough bars yet")
    table = RichTable(title=f"{symbol.upper()} @ {state['time']:%Y-%m-%d %H:%M} UTC")
    table.add_column("feature")
    table.add_column("value", justify="right")
    for name, value in state.items():
        if name not in ("symbol", "time", "available_at", "feature_version"):
            table.add_row(name, f"{value:.8g}")
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



"""`underdog`: operate and inspect the feature store (Dagster orchestrates; this operates).

One module per command group; each command imports its heavy modules lazily, so
`underdog --help` stays fast.
"""

from __future__ import annotations

import sys

import typer

from underdog.cli import agent, db, demo, features, insider, macro, market, sentiment
from underdog.cli.common import console
from underdog.config import ConfigError

app = typer.Typer(no_args_is_help=True, help=__doc__.splitlines()[0],
                  pretty_exceptions_enable=False)
for group in (db, market, features, macro, insider, sentiment, agent):
    app.add_typer(group.app, name=group.__name__.rsplit(".", 1)[-1])
app.command()(demo.demo)


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        console.print(f"[bold red]configuration error:[/] {exc}")
        sys.exit(2)

"""`underdog`: operate and inspect the feature store (Dagster orchestrates; this operates).

One module per command group; each command imports its heavy modules lazily, so
`underdog --help` stays fast.
"""

from __future__ import annotations

import sys

import typer

from underdog.config import ConfigError, get_settings
from underdog.ops.logs import configure_logging
from underdog_cli import (
    agent,
    db,
    demo,
    features,
    health,
    insider,
    macro,
    market,
    metrics,
    sentiment,
    workers,
)
from underdog_cli.errors import OneLineErrors, report

app = typer.Typer(cls=OneLineErrors, no_args_is_help=True, help=__doc__.splitlines()[0],
                  pretty_exceptions_enable=False)
for group in (db, market, features, macro, insider, sentiment, agent, metrics,
              workers):
    app.add_typer(group.app, name=group.__name__.rsplit(".", 1)[-1])
app.command()(demo.demo)
app.command()(health.health)


def main() -> None:
    try:
        settings = get_settings()
        configure_logging(settings.log_format, settings.log_level)  # redacted lines on stderr
        app()
    except ConfigError as exc:  # the settings themselves (each command's: OneLineErrors)
        report(str(exc))
        sys.exit(2)

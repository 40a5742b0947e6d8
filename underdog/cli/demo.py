"""underdog demo: what `make demo` runs."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from underdog.cli.common import console
from underdog.cli.db import db_create, db_status, db_upgrade


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



"""underdog health: is every table fresh, and how are Redis, compression and the streamer."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table as RichTable

from underdog.config import get_settings
from underdog.ops.freshness import FEEDS, format_duration
from underdog_cli.common import console, dagster_instance, when

if TYPE_CHECKING:
    from underdog.ops.health import AssetRuns, HealthReport

STATUS_STYLE = {"ok": "green", "stale": "bold red", "empty": "yellow", "off": "dim",
                "untracked": "dim"}


def dagster_runs(assets: list[str]) -> tuple[dict[str, AssetRuns], str]:
    instance, why = dagster_instance()
    if instance is None:
        return {}, why
    try:
        from underdog_cli.run_metrics import asset_runs

        return asset_runs(instance, assets), ""
    except Exception as exc:  # noqa: BLE001
        from underdog.redaction import redact

        return {}, f"Dagster runs unavailable: {redact(str(exc)).splitlines()[0]}"
    finally:
        instance.dispose()


def health(
    as_json: Annotated[bool, typer.Option("--json", help="the report as JSON")] = False,
    keys: Annotated[bool, typer.Option("--keys", help="a row per symbol, series, source")]
    = False,
    dagster: Annotated[bool, typer.Option(help="read failed runs from the Dagster instance")]
    = True,
) -> None:
    """Freshness of every table against its schedule, errors, Redis, compression, streamer.

    Exit code 1 when something is stale (or Redis is unreachable), 2 on a setting error.
    """
    from underdog.ops.health import as_dict, collect

    report = collect(get_settings())
    if dagster:
        report.runs, report.runs_error = dagster_runs([f.table for f in FEEDS if f.asset])
    else:
        report.runs_error = "not asked (--no-dagster)"
    if as_json:
        print(json.dumps(as_dict(report), indent=2))
    else:
        _print(report, keys)
    if report.problems():
        raise typer.Exit(1)


def _print(report: HealthReport, keys: bool) -> None:
    table = RichTable(title=f"underdog health @ {when(report.now)} UTC ({report.backend})")
    for column in ("table", "written by", "last update", "lag", "allowed", "rows today",
                   "last run", "errors 24h", "dead letters 24h", "status"):
        table.add_column(column, justify="right" if column in (
            "lag", "allowed", "rows today", "errors 24h", "dead letters 24h") else "left",
            overflow="fold", no_wrap=column in ("table", "status"))
    for f in report.feeds:
        runs = report.runs.get(f.table)
        allowed = f.threshold.max_lag
        style = STATUS_STYLE.get(f.status, "")
        table.add_row(
            f.table, f.feed.writer, when(f.newest),
            format_duration(f.lag_s),
            (format_duration(allowed.total_seconds()) + (" open" if f.feed.market_hours else ""))
            if allowed else "-",
            f"{f.rows_today:,}", when(runs.last_materialized) if runs else "-",
            str(runs.failures_24h) if runs else "-", str(report.dead_letters_for(f.table)),
            f"[{style}]{f.status}[/]")
        if keys:
            for k in f.keys:
                table.add_row(f"  {k.key}", "", when(k.newest), format_duration(k.lag_s), "",
                              f"{k.rows_today:,}", "", "", "", "", style="dim")
    console.print(table)
    _print_sources(report)
    _print_services(report)
    for asset, runs in sorted(report.runs.items()):
        if runs.failures_24h:
            console.print(f"[red]last error of {asset}:[/] {runs.last_error}")
    if report.runs_error:
        console.print(f"[dim]Dagster: {report.runs_error} (errors and last runs not shown)[/]")
    for problem in report.problems():
        console.print(f"[bold red]problem:[/] {problem}")


def _print_sources(report: HealthReport) -> None:
    table = RichTable(title="sources")
    for column in ("source", "kind", "last seen", "today", "dead letters 24h"):
        table.add_column(column)
    documents = next(f for f in report.feeds if f.table == "raw_documents")
    letters: dict[str, int] = {}
    for (source, _), n in report.dead_letters.items():
        letters[source] = letters.get(source, 0) + n
    for k in documents.keys:
        if k.newest is not None or k.key in letters:
            table.add_row(k.key, "news/posts (raw_documents)", when(k.newest),
                          f"{k.rows_today:,}", str(letters.pop(k.key, 0)))
    s = report.stream
    if s.seen:
        state = "running" if s.running else "stopped"
        if s.stale:
            state = f"[bold red]silent {format_duration(s.age_s)}[/]"
        table.add_row(f"streamer ({s.protocol})", f"live ticks, {state}, lag "
                      f"{format_duration(s.lag_s)}", when(s.time), "-",
                      str(letters.pop(s.protocol, 0)))
    for source, n in sorted(letters.items()):
        table.add_row(source, "dead letters only", "-", "-", str(n))
    if table.row_count:
        console.print(table)


def _print_services(report: HealthReport) -> None:
    r = report.redis
    if r.up:
        ratio = f"{r.hit_ratio:.1%}" if r.hit_ratio is not None else "-"
        limit = f"{r.maxmemory / 2**20:.0f} MB" if r.maxmemory else "no limit"
        console.print(f"redis: {r.used_memory / 2**20:.1f} MB used of {limit} "
                      f"({r.policy or '-'}), hit ratio {ratio} ({r.hits:,} hits, "
                      f"{r.misses:,} misses), {r.evicted:,} evicted")
    else:
        console.print(f"[bold red]redis: unreachable[/] ({r.error})")
    ratios = [f"{s.table} {s.compression_ratio:.1f}x" for s in report.storage
              if s.compression_ratio]
    if report.backend != "TimescaleDB":
        console.print("compression: none (plain PostgreSQL)")
    else:
        console.print("compression: " + (", ".join(ratios) or "no compressed chunks yet"))
    online = ", ".join(f"{s} {when(t)}" for s, t in report.online.items())
    console.print(f"online state vectors (Redis): {online or '-'}")
    _print_replica(report)


def _print_replica(report: HealthReport) -> None:
    r = report.replica
    if not r.configured:
        console.print("read replica: none (reads go to the primary)")
    elif not r.up:
        console.print(f"[bold red]read replica: unreachable[/] ({r.error})")
    else:
        style = "bold red" if r.too_far_behind else "green"
        console.print(f"read replica: [{style}]{r.lag.describe()}[/] (fresh reads wait "
                      f"up to {r.max_lag_s:g} s, then refuse it)")

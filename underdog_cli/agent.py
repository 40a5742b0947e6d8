"""underdog agent: train, evaluate, act."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table as RichTable

from underdog_cli import arguments
from underdog_cli.common import cache, console, database, status
from underdog_cli.errors import fail

Symbol = Annotated[str, typer.Option(parser=arguments.symbol, help="e.g. EURUSD")]

app = typer.Typer(no_args_is_help=True, help="The TD3 agent: train, evaluate, act.")


def _metrics_table(title: str, metrics: dict[str, dict[str, float]]) -> RichTable:
    """One row per metric, one column per strategy (fits a terminal)."""
    table = RichTable(title=title)
    table.add_column("metric")
    for strategy in metrics:
        table.add_column(strategy, justify="right", no_wrap=True)  # every digit
    for name in next(iter(metrics.values())):
        table.add_row(name, *(repr(values[name]) for values in metrics.values()))
    return table


def _windows(windows: dict[str, list[str]]) -> str:
    return "; ".join(f"{name} {first[:16]} .. {end[:16]}"
                     for name, (first, end) in windows.items())


@app.command("train")
def agent_train(
    symbol: Symbol,
    start: Annotated[datetime | None, typer.Option(
        parser=arguments.day, help="first UTC day (default: the first vector)")] = None,
    end: Annotated[datetime | None, typer.Option(
        parser=arguments.day, help="day after the last (default: the last vector)")] = None,
    timesteps: int = typer.Option(5_000, help="TD3 environment steps"),
    seed: int = typer.Option(7, help="the seed: the same data, config and seed give the "
                                     "same policy"),
) -> None:
    """Train TD3 on the stored state vectors (walk-forward), store the policy, show validation."""
    from underdog.agent.config import LEARNING
    from underdog.agent.runs import train_symbol

    arguments.ordered(start, end, ("--start", "--end"))
    # The configuration that learns (README "Does the agent learn?"), one walk-forward split.
    config = LEARNING.with_budget(timesteps, folds=1).with_seed(seed)
    with database() as db, status.status(f"training TD3 on {symbol}..."):
        try:
            run = train_symbol(db, symbol, config, start=start, end=end)
        except (LookupError, ValueError) as exc:
            fail(str(exc))
    summary = run.summary()
    console.print(f"policy [bold]{run.version}[/]: {summary['bars']:,} bars, "
                  f"{summary['train_steps_per_s']} steps/s")
    console.print(f"windows (UTC): {_windows(summary['windows'])}")
    console.print(_metrics_table("validation window", run.trained.validation))
    if not run.trained.deployable:
        status.print("[bold yellow]not deployable:[/] it does not beat flat after costs on "
                     "the validation window")


@app.command("evaluate")
def agent_evaluate(
    symbol: Symbol,
    version: str | None = typer.Option(None, help="a policy version (default: the newest)"),
    png: str | None = typer.Option(None, help="write the equity curve to this PNG file"),
) -> None:
    """Backtest a stored policy on its test window into the ledger tables; show the metrics."""
    from underdog.agent.evaluate import evaluate

    run_id = f"cli-{uuid.uuid4().hex[:12]}"
    with database() as db:
        try:
            result = evaluate(db, symbol, version=version, run_id=run_id)
        except LookupError as exc:
            fail(str(exc))
    console.print(_metrics_table(f"{result.strategy}, test window (run {run_id})",
                                 result.metrics))
    console.print(f"ledger rows: {result.ledger.written}")
    if png:
        Path(png).write_bytes(result.equity_png)
        console.print(f"equity curve: {png}")


@app.command("act")
def agent_act(
    symbol: Annotated[str, typer.Argument(parser=arguments.symbol, help="e.g. EURUSD")],
    position: float = typer.Option(0.0, help="the current position, fraction of max exposure"),
    version: str | None = typer.Option(None, help="a policy version (default: the newest)"),
) -> None:
    """The policy's action on the latest online state vector (Redis, else the database)."""
    from underdog.agent.act import act

    with database() as db:
        try:
            decision = act(db, cache(db), symbol, position=position, version=version)
        except (LookupError, ValueError) as exc:
            fail(str(exc))
    verb = "trade to" if decision.trade else "hold at"
    console.print(f"{decision.symbol} @ {decision.state_time:%Y-%m-%d %H:%M} UTC, policy "
                  f"{decision.version}: {verb} {decision.new_position:+.3f} "
                  f"(target {decision.target:+.3f}, signal {decision.signal:+.3f})")

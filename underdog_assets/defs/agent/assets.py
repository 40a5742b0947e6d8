import base64
from datetime import UTC, date, datetime, time, timedelta

import dagster as dg
import pandas as pd

from underdog.agent.config import AgentConfig, TrainConfig
from underdog.agent.evaluate import Evaluation, evaluate
from underdog.agent.runs import TrainRun, train_symbol
from underdog.ops.metrics import agent_metrics
from underdog.store import aggregates
from underdog_assets.lib.resources import DatabaseResource, MarketResource

OWNERS = ["team:research"]


class TrainingConfig(dg.Config):
    """What to train on and how long. Days are UTC; empty: every state vector stored."""

    symbols: list[str] = []  # empty: the market's symbols
    start_day: str = ""
    end_day: str = ""  # exclusive
    timesteps: int = TrainConfig.timesteps
    seed: int = TrainConfig.seed

    def agent_config(self) -> AgentConfig:
        return AgentConfig(train=TrainConfig(timesteps=self.timesteps, seed=self.seed))

    def bound(self, day: str) -> datetime | None:
        return datetime.combine(date.fromisoformat(day), time(), tzinfo=UTC) if day else None


def _gauges(version: str, window: str, metrics: dict[str, float], **extra: float) -> dict:
    return agent_metrics(version, window, total_return=metrics["total_return"],
                         sharpe=metrics["sharpe"], max_drawdown=metrics["max_drawdown"], **extra)


def _table(rows: dict[str, dict[str, float]]) -> dg.MetadataValue:
    frame = pd.DataFrame(rows).T.round(6)
    return dg.MetadataValue.md(frame.to_markdown())


BEATS_FLAT = dg.AssetCheckSpec(
    "beats_flat_on_validation", asset="td3_policy",
    description="After costs, the policy's return on the validation window beats staying flat; "
                "a policy that does not is flagged as not deployable (a warning).")


@dg.asset(
    deps=["state_vectors"], group_name="agent", kinds={"pytorch", "postgres"}, owners=OWNERS,
    check_specs=[BEATS_FLAT],
    description="TD3 (stable-baselines3) per symbol on the state vectors' training window "
                "(walk-forward: train / validation / test by time, purged), seeded; the "
                "policy, its scaler statistics and its provenance go to model_registry.",
)
def td3_policy(context: dg.AssetExecutionContext, config: TrainingConfig,
               database: DatabaseResource, market: MarketResource) -> dg.MaterializeResult:
    symbols = config.symbols or list(market.symbols)
    runs: dict[str, TrainRun] = {}
    for symbol in symbols:
        runs[symbol] = train_symbol(database.db, symbol, config.agent_config(),
                                    start=config.bound(config.start_day),
                                    end=config.bound(config.end_day))
        context.log.info(f"{symbol}: policy {runs[symbol].version}, "
                         f"{runs[symbol].trained.steps_per_s:.0f} steps/s")
    not_deployable = [s for s, r in runs.items() if not r.trained.deployable]
    metadata = {
        "versions": {s: r.version for s, r in runs.items()},
        "windows": {s: r.summary()["windows"] for s, r in runs.items()},
        "timesteps": config.timesteps, "seed": config.seed,
        "train_steps_per_s": {s: round(r.trained.steps_per_s, 1) for s, r in runs.items()},
        **{f"validation_{s}": _table(r.trained.validation) for s, r in runs.items()},
        # The exporter reads these back for the agent dashboard (a run's gauges die with it).
        "agent_metrics": [_gauges(r.version, "validation", r.trained.validation["td3"],
                                  train_steps_per_second=r.trained.steps_per_s)
                          for r in runs.values()],
    }
    return dg.MaterializeResult(metadata=metadata, check_results=[dg.AssetCheckResult(
        check_name="beats_flat_on_validation", passed=not not_deployable,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"not_deployable": not_deployable,
                  "validation_return": {s: r.trained.validation["td3"]["total_return"]
                                        for s, r in runs.items()}})])


LEDGER_CHECK = dg.AssetCheckSpec(
    "ledger_balances", asset="td3_evaluation",
    description="The trades written for the run add up to the equity's change, and "
                "daily_trading_summary holds the same trades and PnL.")


@dg.asset(
    deps=["td3_policy"], group_name="agent", kinds={"pytorch", "timescale"}, owners=OWNERS,
    check_specs=[LEDGER_CHECK], pool="timescale_write",
    description="The policies of td3_policy's latest materialization, each on its own test "
                "window, against buy-and-hold and flat after the same costs; the backtest's "
                "trades, positions, metrics and account snapshots go to the ledger tables.",
)
def td3_evaluation(context: dg.AssetExecutionContext,
                   database: DatabaseResource) -> dg.MaterializeResult:
    db = database.db
    results = {s: evaluate(db, s, version=v, run_id=context.run.run_id)
               for s, v in _trained_versions(context).items()}
    metadata: dict[str, object] = {"strategies": {s: e.strategy for s, e in results.items()}}
    for symbol, result in results.items():
        metadata[f"metrics_{symbol}"] = _table(result.metrics)
        metadata[f"equity_curve_{symbol}"] = dg.MetadataValue.md(
            f"![equity {symbol}](data:image/png;base64,"
            f"{base64.b64encode(result.equity_png).decode()})")
        metadata[f"ledger_rows_{symbol}"] = result.ledger.written
    metadata["agent_metrics"] = [_gauges(e.version, "test", e.metrics["td3"])
                                 for e in results.values()]
    balances = {s: _ledger_balance(db, e) for s, e in results.items()}
    return dg.MaterializeResult(metadata=metadata, check_results=[dg.AssetCheckResult(
        check_name="ledger_balances", passed=all(ok for ok, _ in balances.values()),
        metadata={s: detail for s, (ok, detail) in balances.items()})])


def _trained_versions(context: dg.AssetExecutionContext) -> dict[str, str]:
    """symbol -> policy version, from td3_policy's latest materialization."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey("td3_policy"))
    versions = event.asset_materialization.metadata.get("versions") if event else None
    if versions is None or not versions.value:
        raise dg.Failure("td3_policy has no materialization with policy versions: "
                         "materialize td3_policy first")
    return dict(versions.value)


def _ledger_balance(db, result: Evaluation) -> tuple[bool, str]:
    """Read back: the stored trades' PnL vs the equity change, and the daily summary."""
    books = result.books["td3"]
    start, end = result.ledger.window
    with db.reader() as conn:
        trades, pnl = conn.execute(
            "SELECT count(*), coalesce(sum(pnl), 0) FROM underdog.trades"
            " WHERE strategy = %s AND time >= %s AND time < %s",
            (result.strategy, start, end)).fetchone()
        summary_trades, summary_pnl = conn.execute(
            "SELECT coalesce(sum(trades), 0), coalesce(sum(pnl), 0)"
            " FROM underdog.daily_trading_summary WHERE strategy = %s",
            (result.strategy,)).fetchone()
    change = books.equity[-1] - books.equity[0]
    ok = (trades == len(books.trades) == summary_trades and abs(pnl - change) < 1e-6
          and abs(summary_pnl - pnl) < 1e-6)
    return ok, (f"{trades} trades, PnL {pnl:.2f} vs equity change {change:.2f}; summary "
                f"{summary_trades} trades, PnL {summary_pnl:.2f}")


@dg.asset(
    deps=["td3_evaluation"], group_name="agent", kinds={"timescale"}, owners=OWNERS,
    description="Trades, win rate, PnL and costs per UTC day and strategy, from `trades` "
                "(a continuous aggregate on TimescaleDB, a refreshed table on PostgreSQL).",
)
def daily_trading_summary(database: DatabaseResource) -> dg.MaterializeResult:
    db = database.db
    with db.reader() as conn:
        first, last = conn.execute("SELECT min(time), max(time) FROM underdog.trades").fetchone()
    if first is not None:
        aggregates.refresh(db, "daily_trading_summary", first, last + timedelta(days=1))
    with db.reader() as conn:
        frame = pd.DataFrame(conn.execute(
            "SELECT strategy, time::date AS day, trades, wins, round(win_rate::numeric, 3)"
            " AS win_rate, round(pnl::numeric, 2) AS pnl FROM underdog.daily_trading_summary"
            " ORDER BY time DESC, strategy LIMIT 20").fetchall(),
            columns=["strategy", "day", "trades", "wins", "win_rate", "pnl"])
    return dg.MaterializeResult(metadata={
        "rows": len(frame), "preview": dg.MetadataValue.md(frame.to_markdown(index=False))})

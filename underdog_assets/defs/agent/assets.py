from datetime import UTC, date, datetime, time

import dagster as dg
import pandas as pd

from underdog.agent.config import LEARNING, AgentConfig
from underdog.agent.evaluate import Evaluation, evaluate
from underdog.agent.ledger import balance, refresh_daily_summary
from underdog.agent.report import FOLD_COLUMNS, folds_metadata
from underdog.agent.runs import TrainRun, train_folds
from underdog.ops.metrics import agent_metrics
from underdog.sources.simulated import Edge
from underdog_assets.defs.common.executors import work_tags
from underdog_assets.defs.common.metadata import frame_table
from underdog_assets.defs.common.resources import DatabaseResource, MarketResource

OWNERS = ["team:research"]


SEEDS = dg.StaticPartitionsDefinition([str(seed) for seed in range(1, 6)])


class TrainingConfig(dg.Config):
    """What to train on and how long. Days are UTC; empty: every state vector stored. The
    seed is the partition: a sweep over seeds is a backfill of td3_policy's partitions."""

    symbols: list[str] = []  # empty: the market's symbols
    start_day: str = ""
    end_day: str = ""  # exclusive
    timesteps: int = LEARNING.train.timesteps
    folds: int = LEARNING.split.folds

    def agent_config(self, seed: int) -> AgentConfig:
        return LEARNING.with_budget(self.timesteps, self.folds).with_seed(seed)

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
    description="After costs, the confidence interval of the deployed policy's (the last "
                "fold's) Sharpe on its validation window lies above flat's 0; a policy whose "
                "interval reaches 0 is flagged as not deployable (a warning).")


@dg.asset(
    op_tags=work_tags("cpu"),
    # Every stored day of vectors feeds each seed's policies.
    deps=[dg.AssetDep("state_vectors", partition_mapping=dg.AllPartitionMapping())],
    group_name="agent", kinds={"pytorch", "postgres"}, owners=OWNERS,
    check_specs=[BEATS_FLAT], partitions_def=SEEDS,
    description="TD3 (stable-baselines3) per symbol on the state vectors, one policy per "
                "expanding walk-forward fold (train / validation / test by time, purged and "
                "embargoed), seeded by the partition; each policy, its scaler statistics and "
                "its provenance go to model_registry.",
)
def td3_policy(context: dg.AssetExecutionContext, config: TrainingConfig,
               database: DatabaseResource, market: MarketResource) -> dg.MaterializeResult:
    seed = int(context.partition_key)
    symbols = config.symbols or list(market.symbols)
    runs: dict[str, list[TrainRun]] = {}
    for symbol in symbols:
        runs[symbol] = train_folds(database.db, symbol, config.agent_config(seed),
                                   start=config.bound(config.start_day),
                                   end=config.bound(config.end_day))
        context.log.info(f"{symbol}: policies {[r.version for r in runs[symbol]]}")
    deployed = {s: r[-1] for s, r in runs.items()}
    not_deployable = [s for s, r in deployed.items() if not r.trained.deployable]
    metadata = {
        "versions": {s: [r.version for r in rs] for s, rs in runs.items()},
        "windows": {s: [r.summary()["windows"] for r in rs] for s, rs in runs.items()},
        "timesteps": config.timesteps, "seed": seed, "folds": config.folds,
        "train_steps_per_s": {s: round(r.trained.steps_per_s, 1) for s, r in deployed.items()},
        **{f"validation_{s}": _table(r.trained.validation) for s, r in deployed.items()},
        # The exporter reads these back for the agent dashboard (a run's gauges die with it).
        "agent_metrics": [_gauges(r.version, "validation", r.trained.validation["td3"],
                                  train_steps_per_second=r.trained.steps_per_s)
                          for r in deployed.values()],
    }
    return dg.MaterializeResult(metadata=metadata, check_results=[dg.AssetCheckResult(
        check_name="beats_flat_on_validation", passed=not not_deployable,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"not_deployable": not_deployable,
                  "validation_sharpe": {s: [r.trained.validation_sharpe.text() for r in rs]
                                        for s, rs in runs.items()}})])


LEDGER_CHECK = dg.AssetCheckSpec(
    "ledger_balances", asset="td3_evaluation",
    description="The trades written for the run add up to the equity's change, and "
                "daily_trading_summary holds the same trades and PnL.")


@dg.asset(
    op_tags=work_tags("cpu"),
    deps=["td3_policy"], group_name="agent", kinds={"pytorch", "timescale"}, owners=OWNERS,
    check_specs=[LEDGER_CHECK], pool="timescale_write", partitions_def=SEEDS,
    description="The seed's policies of td3_policy, each fold's on its own test window, "
                "against flat, buy-and-hold, a moving-average crossover and (simulated market "
                "with an edge) the oracle, after the same costs: Sharpe with its interval and "
                "window per fold, pooled over folds, deflated over the seeds evaluated; the "
                "backtest's trades, positions, metrics and account snapshots go to the ledger.",
)
def td3_evaluation(context: dg.AssetExecutionContext, database: DatabaseResource,
                   market: MarketResource) -> dg.MaterializeResult:
    db = database.db
    edge = Edge(market.edge) if market.source == "simulated" else None
    results = {s: [evaluate(db, s, version=v, run_id=context.run.run_id, rules=True,
                            seed=market.seed, edge=edge) for v in versions]
               for s, versions in _trained_versions(context).items()}
    trials = _other_seeds(context)
    metadata: dict[str, object] = {"strategies": {s: [e.strategy for e in es]
                                                  for s, es in results.items()}}
    for symbol, folds in results.items():
        metadata.update(_symbol_metadata(symbol, folds, trials.get(symbol, [])))
    metadata["per_bar_sharpe"] = {s: metadata[f"per_bar_sharpe_{s}"] for s in results}
    metadata["agent_metrics"] = [_gauges(es[-1].version, "test", es[-1].metrics["td3"])
                                 for es in results.values()]
    balances = {f"{s} fold {i}": balance(db, e.books["td3"], e.strategy, e.ledger.window)
                for s, es in results.items() for i, e in enumerate(es, start=1)}
    return dg.MaterializeResult(metadata=metadata, check_results=[dg.AssetCheckResult(
        check_name="ledger_balances", passed=all(ok for ok, _ in balances.values()),
        metadata={s: detail for s, (ok, detail) in balances.items()})])


def _symbol_metadata(symbol: str, folds: list[Evaluation], trials: list[float]) -> dict:
    """folds_metadata as the asset page shows it: the fold and metrics tables as table
    metadata (drawn inline), the equity plot of every fold as markdown holding a PNG (a
    data URI: the UI draws it in the "[Show Markdown]" dialog), the rest as plain values."""
    values = folds_metadata(symbol, folds, trials)
    values[f"folds_{symbol}"] = frame_table(values[f"folds_{symbol}"], FOLD_COLUMNS)
    values[f"metrics_{symbol}"] = frame_table(values[f"metrics_{symbol}"], {
        "metric": "of the last fold's policy (td3) and the baselines on its test window"})
    values[f"equity_curve_{symbol}"] = dg.MetadataValue.md(values[f"equity_curve_{symbol}"])
    return values


def _latest(context: dg.AssetExecutionContext, asset: str, partition: str) -> dict:
    """The metadata of `asset`'s latest materialization of `partition` ({} if none)."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(dg.AssetKey(asset), asset_partitions=[partition]), limit=1).records
    if not records:
        return {}
    return dict(records[0].asset_materialization.metadata)


def _trained_versions(context: dg.AssetExecutionContext) -> dict[str, list[str]]:
    """symbol -> the fold policies' versions, from td3_policy's latest materialization of
    this seed."""
    versions = _latest(context, "td3_policy", context.partition_key).get("versions")
    if versions is None or not versions.value:
        raise dg.Failure(f"td3_policy has no materialization with policy versions for seed "
                         f"{context.partition_key}: materialize td3_policy first")
    return {s: list(v) for s, v in versions.value.items()}


def _other_seeds(context: dg.AssetExecutionContext) -> dict[str, list[float]]:
    """symbol -> the pooled per-bar test Sharpes of the other seeds evaluated (the trials
    the deflated Sharpe ratio accounts for)."""
    trials: dict[str, list[float]] = {}
    for key in SEEDS.get_partition_keys():
        if key == context.partition_key:
            continue
        value = _latest(context, "td3_evaluation", key).get("per_bar_sharpe")
        for symbol, sharpe in (value.value if value else {}).items():
            trials.setdefault(symbol, []).append(float(sharpe))
    return trials


@dg.asset(
    op_tags=work_tags("io"),
    deps=["td3_evaluation"], group_name="agent", kinds={"timescale"}, owners=OWNERS,
    description="Trades, win rate, PnL and costs per UTC day and strategy, from `trades` "
                "(a continuous aggregate on TimescaleDB, a refreshed table on PostgreSQL).",
)
def daily_trading_summary(database: DatabaseResource) -> dg.MaterializeResult:
    frame = refresh_daily_summary(database.db)
    return dg.MaterializeResult(metadata={
        "rows": len(frame), "preview": dg.MetadataValue.md(frame.to_markdown(index=False))})

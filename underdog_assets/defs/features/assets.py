"""Features: the regime model and its labels, and the 14-dim state vectors."""

import dagster as dg
import pandas as pd

from underdog.features import materialize
from underdog.features.registry import FEATURE_VERSION, describe
from underdog_assets.defs.common.executors import work_tags
from underdog_assets.defs.common.partitions import DAILY, WEEKLY_BATCHES
from underdog_assets.defs.common.resources import DatabaseResource, MarketResource, RedisResource

OWNERS = ["team:research"]


@dg.asset(
    op_tags=work_tags("cpu"),
    partitions_def=DAILY, backfill_policy=WEEKLY_BATCHES, deps=["ohlcv"], group_name="features",
    kinds={"python", "postgres"},
    owners=OWNERS,
    description="Gaussian HMM (hmmlearn) per symbol on 15-minute trend strength and "
                "volatility, fitted on the 30 days before the partition's day: the model that "
                "labels that day. Stored in model_registry as regime_hmm:<symbol>/<day>.",
)
def regime_model(context: dg.AssetExecutionContext, database: DatabaseResource,
                 market: MarketResource) -> dg.MaterializeResult:
    start, end = context.partition_time_window
    models = materialize.fit_regime_models(database.db, list(market.symbols), start, end)
    fitted = {key: f"{model.rows} buckets, states {model.names}" if model
              else "too little history" for key, model in models.items()}
    return dg.MaterializeResult(metadata={"models": fitted,
                                          "fitted": sum("buckets" in v for v in fitted.values())})


@dg.asset(
    op_tags=work_tags("cpu"),
    partitions_def=DAILY, backfill_policy=WEEKLY_BATCHES, deps=["regime_model", "ohlcv"],
    group_name="features", kinds={"timescale"}, owners=OWNERS, pool="timescale_write",
    description="Regime (trend / range / transition) per symbol and 15-minute bucket from "
                "filtered (forward-only) HMM probabilities; available at the bucket's close.",
)
def regime_predictions(context: dg.AssetExecutionContext, database: DatabaseResource,
                       market: MarketResource, cache: RedisResource) -> dg.MaterializeResult:
    start, end = context.partition_time_window
    run = materialize.regime_predictions(database.db, list(market.symbols), start, end,
                                         cache=cache.cache(database))
    return dg.MaterializeResult(metadata={
        "rows_written": run.result.written, "rows_rejected": run.result.rejected,
        "days_without_model": run.missing_models,
    })


STATE_CHECKS = [
    dg.AssetCheckSpec("lookahead_audit", asset="state_vectors",
                      description="For 20 random cutoffs c per symbol, rebuilding from inputs "
                                  "truncated at c gives exactly the rows available by c."),
    dg.AssetCheckSpec("online_offline_parity", asset="state_vectors",
                      description="The online vector of 50 random bars equals the offline "
                                  "row to 1e-9 relative."),
    dg.AssetCheckSpec("finite_and_in_range", asset="state_vectors",
                      description="No NaN/inf, rsi in [0, 1], regime one-hot sums to 1."),
]


@dg.asset(
    op_tags=work_tags("cpu"),
    partitions_def=DAILY, backfill_policy=WEEKLY_BATCHES,
    deps=["ohlcv", "sentiment_scores", "macro_indicators", "regime_predictions"],
    group_name="features", kinds={"timescale"}, owners=OWNERS, pool="timescale_write",
    check_specs=STATE_CHECKS,
    description=f"The 14-dim state vector (feature_version {FEATURE_VERSION}) per symbol and "
                "closed M1 bar, each fact joined as of its available_at <= the bar's close.",
    metadata={"feature_registry": dg.MetadataValue.md(
        pd.DataFrame(describe()).to_markdown(index=False))},
)
def state_vectors(context: dg.AssetExecutionContext, database: DatabaseResource,
                  market: MarketResource, cache: RedisResource) -> dg.MaterializeResult:
    start, end = context.partition_time_window
    run = materialize.audited_state_vectors(database.db, list(market.symbols), start, end,
                                            cache=cache.cache(database))
    look = [a.lookahead for a in run.audits.values()]
    parity = [a.parity for a in run.audits.values()]
    bad = {k: sum(a.sanity[k] for a in run.audits.values())
           for k in next(iter(run.audits.values())).sanity} if run.audits else {}
    return dg.MaterializeResult(
        metadata={"rows_written": run.result.written, "rows_rejected": run.result.rejected,
                  "feature_version": FEATURE_VERSION},
        check_results=[
            dg.AssetCheckResult(
                check_name="lookahead_audit", passed=all(r.passed for r in look),
                metadata={"cutoffs": sum(r.cutoffs for r in look),
                          "violations": sum(r.violations for r in look),
                          "leaking_columns": sorted({c for r in look for c in r.columns})}),
            dg.AssetCheckResult(
                check_name="online_offline_parity",
                passed=all(p.passed or p.bars == 0 for p in parity),
                metadata={"bars": sum(p.bars for p in parity),
                          "max_rel_diff": max((p.max_rel_diff for p in parity), default=0.0),
                          "max_abs_diff": max((p.max_abs_diff for p in parity), default=0.0)}),
            dg.AssetCheckResult(check_name="finite_and_in_range",
                                passed=not any(bad.values()), metadata=bad),
        ],
    )

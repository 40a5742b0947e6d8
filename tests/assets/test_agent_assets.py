"""The agent group in Dagster: td3_policy, td3_evaluation and the daily summary, in-process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from underdog.features import materialize
from underdog.market.backfill import backfill_bars
from underdog.store.db import Database
from underdog_assets.definitions import defs

DAY = datetime(2024, 3, 5, tzinfo=UTC)
SYMBOLS = ["EURUSD", "GBPUSD"]


@pytest.fixture
def vectors(db: Database) -> Database:
    backfill_bars(db, SYMBOLS, DAY - timedelta(days=1), DAY + timedelta(days=2), seed=9)
    materialize.state_vectors(db, SYMBOLS, DAY, DAY + timedelta(days=2))
    return db


def _train(instance: dg.DagsterInstance, seed: str):
    job = defs().resolve_job_def("agent_train")
    config = {"ops": {"td3_policy": {"config": {"timesteps": 300, "folds": 2}}}}
    result = job.execute_in_process(instance=instance, run_config=config, partition_key=seed)
    assert result.success
    return result


def test_train_evaluate_and_summarize(dagster_env: None, vectors: Database) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = _train(instance, "3")
    events = {m.asset_key.to_user_string(): m.materialization.metadata
              for m in result.get_asset_materialization_events()}
    assert set(events) == {"td3_policy", "td3_evaluation", "daily_trading_summary"}
    policy, evaluation = events["td3_policy"], events["td3_evaluation"]
    assert set(policy["versions"].value) == set(SYMBOLS)
    assert all(len(v) == 2 for v in policy["versions"].value.values())  # one per fold
    assert policy["seed"].value == 3 and policy["folds"].value == 2
    assert policy["timesteps"].value == 300 and "buy_and_hold" in policy[
        "validation_EURUSD"].value
    assert evaluation["equity_curve_GBPUSD"].value.startswith(
        "![equity GBPUSD](data:image/png;base64,iVBORw0KGgo")
    folds = evaluation["folds_EURUSD"]  # table metadata (the UI draws it inline)
    assert isinstance(folds, dg.TableMetadataValue)
    assert [c.name for c in folds.schema.columns] == ["fold", "strategy", "sharpe", "ci_low",
                                                      "ci_high", "days", "return"]
    rows = [r.data for r in folds.records]  # a row per fold and strategy
    for fold in (1, 2):
        assert {r["strategy"] for r in rows if r["fold"] == fold} >= {
            "td3", "flat", "buy_and_hold", "ma_crossover"}
    assert {r["fold"] for r in rows} == {1, 2}
    assert all(r["ci_low"] <= r["sharpe"] <= r["ci_high"] and r["days"] > 0 for r in rows)
    metrics = evaluation["metrics_EURUSD"]
    assert isinstance(metrics, dg.TableMetadataValue)
    assert {"metric", "td3", "flat", "buy_and_hold"} <= {c.name for c in metrics.schema.columns}
    assert {r.data["metric"] for r in metrics.records} >= {"total_return", "sharpe", "trades"}
    assert evaluation["seeds_in_deflation_EURUSD"].value == 1
    assert 0.0 <= evaluation["deflated_sharpe_EURUSD"].value <= 1.0
    rows = evaluation["agent_metrics"].value  # what the exporter reads for the dashboard
    assert {r["policy_version"] for r in rows} == {v[-1] for v in
                                                   policy["versions"].value.values()}
    assert {r["window"] for r in rows} == {"test"} and all("sharpe" in r for r in rows)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["ledger_balances"].passed
    flag = checks["beats_flat_on_validation"]
    assert flag.severity == dg.AssetCheckSeverity.WARN  # a warning, never a fake pass
    assert flag.passed == (not flag.metadata["not_deployable"].value)
    with vectors.connection() as conn:
        strategies = {r[0] for r in conn.execute(
            "SELECT DISTINCT strategy FROM underdog.positions WHERE run_id = %s",
            (result.run_id,))}
    assert strategies == {f"td3:{v}" for s in SYMBOLS for v in policy["versions"].value[s]}

    # Another seed is another partition; its evaluation deflates over both seeds.
    again = _train(instance, "4")
    other = {m.asset_key.to_user_string(): m.materialization.metadata
             for m in again.get_asset_materialization_events()}["td3_evaluation"]
    assert other["seeds_in_deflation_EURUSD"].value == 2
    assert instance.get_materialized_partitions(dg.AssetKey("td3_policy")) == {"3", "4"}


def test_evaluation_without_a_trained_policy_says_so(dagster_env: None, db: Database) -> None:
    job = defs().resolve_job_def("agent_train")
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(),
                                    asset_selection=[dg.AssetKey("td3_evaluation")],
                                    raise_on_error=False, partition_key="1")
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "materialize td3_policy first" in str(failure.event_specific_data.error)


def test_weekly_retraining_is_a_run_per_seed_partition() -> None:
    from underdog_assets.defs.agent.schedules import agent_train_schedule

    when = datetime(2024, 3, 10, 2, tzinfo=UTC)
    requests = agent_train_schedule(dg.build_schedule_context(scheduled_execution_time=when))
    assert [r.partition_key for r in requests] == ["1", "2", "3"]
    assert len({r.run_key for r in requests}) == 3

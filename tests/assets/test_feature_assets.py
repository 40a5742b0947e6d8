"""The feature assets end to end: market history -> regime model -> labels -> vectors."""

from __future__ import annotations

import dagster as dg
import pytest

from tests.helpers import table_checksum
from underdog.store.db import Database
from underdog_assets.definitions import defs


@pytest.fixture
def one_symbol(dagster_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNDERDOG_SYMBOLS", "EURUSD")


def _run(job: str, **kwargs) -> dg.ExecuteInProcessResult:
    return defs().resolve_job_def(job).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), **kwargs)


def test_a_feature_day_materializes_with_passing_audits(one_symbol: None, db: Database) -> None:
    market = _run("market_daily", tags={"dagster/asset_partition_range_start": "2024-02-05",
                                        "dagster/asset_partition_range_end": "2024-03-12"})
    assert market.success
    result = _run("features_daily", partition_key="2024-03-12")
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(checks) == {"lookahead_audit", "online_offline_parity", "finite_and_in_range"}
    assert all(c.passed for c in checks.values()), {k: c.metadata for k, c in checks.items()}
    assert checks["lookahead_audit"].metadata["cutoffs"].value == 20
    assert checks["online_offline_parity"].metadata["bars"].value == 50
    assert table_checksum(db, "state_vectors")[0] == 1440
    assert table_checksum(db, "regime_predictions")[0] == 96
    with db.connection() as conn:
        versions = conn.execute("SELECT version FROM underdog.model_registry").fetchall()
    assert versions == [("2024-03-12",)]


def test_without_history_the_day_has_no_model_and_default_regimes(one_symbol: None,
                                                                   db: Database) -> None:
    _run("market_daily", tags={"dagster/asset_partition_range_start": "2024-03-11",
                               "dagster/asset_partition_range_end": "2024-03-12"})
    result = _run("features_daily", partition_key="2024-03-12")
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    with db.connection() as conn:
        regimes = conn.execute("SELECT min(regime_transition), count(*)"
                               " FROM underdog.state_vectors").fetchone()
    assert regimes == (1.0, 1440)  # no model: every bar in the default regime

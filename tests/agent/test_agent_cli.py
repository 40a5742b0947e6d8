"""`underdog agent train | evaluate | act` on the test database and Redis."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import REDIS_URL
from tests.helpers import cli_settings
from underdog.features import materialize
from underdog.market.backfill import backfill_bars
from underdog.store.db import Database
from underdog_cli.app import app

DAY = datetime(2024, 3, 5, tzinfo=UTC)


@pytest.fixture
def cli_env(dsn: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with cli_settings(monkeypatch, dsn=dsn, redis_url=REDIS_URL,
                      prefix=f"{redis_prefix}_agent_cli"):
        yield


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_train_evaluate_act(cli_env: None, db: Database, tmp_path: Path) -> None:
    assert "no state vectors for EURUSD" in invoke("agent", "train", "--symbol", "eurusd").output
    backfill_bars(db, ["EURUSD"], DAY - timedelta(days=1), DAY + timedelta(days=2), seed=2)
    materialize.state_vectors(db, ["EURUSD"], DAY, DAY + timedelta(days=2))

    trained = invoke("agent", "train", "--symbol", "eurusd", "--timesteps", "300")
    assert trained.exit_code == 0, trained.output
    assert "policy EURUSD-" in trained.output and "buy_and_hold" in trained.output
    png = tmp_path / "equity.png"
    evaluated = invoke("agent", "evaluate", "--symbol", "EURUSD", "--png", str(png))
    assert evaluated.exit_code == 0, evaluated.output
    assert "ledger rows" in evaluated.output and png.read_bytes().startswith(b"\x89PNG")
    with db.connection() as conn:  # the metrics table shows each value as stored
        stored = conn.execute("SELECT name, value FROM underdog.metrics WHERE value IS NOT NULL"
                              " AND value <> 'NaN'").fetchall()
    rows = {line.split("│")[1].strip(): line for line in evaluated.stdout.splitlines()
            if line.startswith("│")}
    assert stored and all(f" {value!r} " in rows[name] for name, value in stored)
    acted = invoke("agent", "act", "EURUSD", "--position", "0.5")
    assert acted.exit_code == 0, acted.output
    assert "EURUSD @ 2024-03-06 23:59 UTC, policy EURUSD-" in acted.output
    assert invoke("agent", "act", "EURUSD", "--position", "2").exit_code == 2
    assert "no TD3 policy for GBPUSD" in invoke("agent", "act", "GBPUSD").output

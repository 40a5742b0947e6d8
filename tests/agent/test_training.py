"""TD3 end to end on the real database: seeded training, the registry, evaluation into the
ledger tables and daily_trading_summary, and inference on the online state."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import torch

from tests.conftest import REDIS_URL, TRUNCATE
from underdog.agent.act import act
from underdog.agent.acting import policy_of
from underdog.agent.config import AgentConfig, SplitConfig, TrainConfig
from underdog.agent.data import load_market
from underdog.agent.evaluate import evaluate
from underdog.agent.policies import load_policy
from underdog.agent.runs import TrainRun, train_symbol
from underdog.features import materialize
from underdog.features.online import update_online
from underdog.market.backfill import backfill_bars
from underdog.store.db import Database
from underdog.store.offline.readers import latest
from underdog.store.online.cache import LatestCache

DAY = datetime(2024, 3, 5, tzinfo=UTC)  # Tuesday: three full trading days from here
END = DAY + timedelta(days=3)
TINY = AgentConfig(split=SplitConfig(purge_bars=30),
                   train=TrainConfig(timesteps=400, learning_starts=100, batch_size=32,
                                     net_arch=(16, 16), episode_bars=600))


@pytest.fixture(scope="module")
def world(database: Database) -> Database:
    with database.connection() as conn, conn.transaction():
        conn.execute(TRUNCATE)
    backfill_bars(database, ["EURUSD"], DAY - timedelta(days=1), END, seed=5)
    materialize.state_vectors(database, ["EURUSD"], DAY, END)
    return database


@pytest.fixture(scope="module")
def trained(world: Database) -> TrainRun:
    return train_symbol(world, "EURUSD", TINY)


def _weights(run: TrainRun) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in run.trained.model.policy.parameters()]


def test_one_seed_gives_the_same_policy_and_metrics(world: Database, trained: TrainRun) -> None:
    again = train_symbol(world, "EURUSD", TINY)
    assert again.version == trained.version
    assert again.trained.validation == trained.trained.validation
    for a, b in zip(_weights(again), _weights(trained), strict=True):
        np.testing.assert_array_equal(a, b)
    other = train_symbol(world, "EURUSD", replace(TINY, train=replace(TINY.train, seed=8)))
    assert other.version != trained.version
    assert any(not np.array_equal(a, b) for a, b in zip(_weights(other), _weights(trained),
                                                       strict=True))


def test_the_scaler_is_fitted_on_the_training_window_only(trained: TrainRun) -> None:
    t = trained.trained
    train_rows = t.data.window(t.split.train).features
    np.testing.assert_allclose(t.scaler.mean, train_rows.mean(axis=0))
    assert not np.allclose(t.scaler.mean, t.data.features.mean(axis=0))
    windows = trained.summary()["windows"]
    assert windows["train"][1] < windows["validation"][0] < windows["test"][0]


def test_the_registry_keeps_what_reproduces_the_policy(world: Database,
                                                       trained: TrainRun) -> None:
    stored = load_policy(world, "EURUSD", trained.version)
    assert stored.version == trained.version and stored.config == TINY
    params = stored.params
    assert params["seed"] == 7 and params["feature_version"] == 1
    assert set(params["libraries"]) >= {"stable-baselines3", "torch", "gymnasium"}
    assert params["code_revision"] and set(params["scaler"]) == {"mean", "std"}
    obs = np.random.default_rng(0).normal(size=(20, 15)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_array_equal(stored.model.predict(obs, deterministic=True)[0],
                                      trained.trained.model.predict(obs, deterministic=True)[0])
    with pytest.raises(LookupError, match="no TD3 policy for GBPUSD"):
        load_policy(world, "GBPUSD")


def _count(db: Database, query: str, *args: object) -> tuple:
    with db.connection() as conn:
        return conn.execute(query, args).fetchone()


def test_evaluation_writes_the_ledger_once_per_window(world: Database,
                                                      trained: TrainRun) -> None:
    first = evaluate(world, "EURUSD", version=trained.version, run_id="run-1")
    strategy = f"td3:{trained.version}"
    books = first.books["td3"]
    start, end = load_policy(world, "EURUSD", trained.version).window("test")
    assert first.ledger.written == {
        "trades": len(books.trades), "positions": len(books.positions),
        "account_snapshots": len(books.snapshots), "metrics": 27}
    assert _count(world, "SELECT count(*), min(run_id), min(time) >= %s FROM underdog.positions"
                  " WHERE strategy = %s", start, strategy) == (len(books.positions), "run-1",
                                                              True)
    assert set(first.metrics) == {"td3", "buy_and_hold", "flat"}
    assert first.metrics["flat"]["total_return"] == 0.0
    summary = _count(world, "SELECT coalesce(sum(trades), 0), coalesce(sum(pnl), 0)"
                     " FROM underdog.daily_trading_summary WHERE strategy = %s", strategy)
    assert summary[0] == len(books.trades)
    assert summary[1] == pytest.approx(sum(t["pnl"] for t in books.trades), abs=1e-6)

    # The same policy on the same window: its rows are replaced, not added.
    again = evaluate(world, "EURUSD", version=trained.version, run_id="run-2")
    assert again.metrics == first.metrics
    assert _count(world, "SELECT count(*), min(run_id), max(run_id) FROM underdog.metrics"
                  " WHERE strategy LIKE %s", strategy + "%") == (27, "run-2", "run-2")
    assert _count(world, "SELECT count(*) FROM underdog.account_snapshots WHERE account = %s",
                  strategy) == (len(books.snapshots),)
    assert end > start


def test_act_reads_the_online_state(world: Database, trained: TrainRun,
                                    redis_prefix: str) -> None:
    cache = LatestCache.from_url(REDIS_URL, prefix=f"{redis_prefix}:agent",
                                 loader=lambda k, s, src: latest(world, k, s, src))
    cache.clear()
    vector = update_online(world, cache, "EURUSD")
    decision = act(world, cache, "EURUSD", position=0.25, version=trained.version)
    assert decision.version == trained.version and decision.state_time == vector["time"]
    assert -1.0 <= decision.target <= 1.0
    assert decision.new_position == (decision.target if decision.signal > 0 else 0.25)
    market = load_market(world, "EURUSD", vector["time"], vector["time"] + timedelta(minutes=1))
    obs = np.append(trained.trained.scaler.transform(market.features, 10.0)[0], 0.25)
    expected = trained.trained.model.predict(obs.astype(np.float32), deterministic=True)[0]
    assert (decision.target, decision.signal) == pytest.approx(tuple(map(float, expected)))
    with pytest.raises(ValueError, match="position must be in"):
        act(world, cache, "EURUSD", position=1.5, version=trained.version)


def test_act_acts_through_the_critics_when_the_policy_was_trained_to(
        world: Database, redis_prefix: str) -> None:
    """A policy stored with acting "greedy_levels" acts greedily in `underdog agent act` too:
    the same action as in its validation and test backtests."""
    config = replace(TINY, train=replace(TINY.train, acting="greedy_levels"))
    run = train_symbol(world, "EURUSD", config)
    cache = LatestCache.from_url(REDIS_URL, prefix=f"{redis_prefix}:greedy",
                                 loader=lambda k, s, src: latest(world, k, s, src))
    cache.clear()
    vector = update_online(world, cache, "EURUSD")
    decision = act(world, cache, "EURUSD", position=1.0, version=run.version)
    market = load_market(world, "EURUSD", vector["time"], vector["time"] + timedelta(minutes=1))
    obs = np.append(run.trained.scaler.transform(market.features, 10.0)[0], 1.0)
    expected = policy_of(run.trained.model, config)(obs.astype(np.float32))
    assert (decision.target, decision.signal) == tuple(map(float, expected))
    assert decision.target in (-1.0, 0.0, 1.0) and decision.signal == 1.0

"""What `underdog demo` prints about the agent: online vs offline vector of the same bar, and
TD3 against the baselines with Sharpe intervals and the windows they cover."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from tests.conftest import REDIS_URL
from underdog.config import get_settings
from underdog.features import materialize
from underdog.features.registry import FEATURE_NAMES
from underdog.features.state_vector import training_frame
from underdog.market.backfill import backfill_bars
from underdog.ops.cadences import AGENT_TRAIN
from underdog.store.db import Database
from underdog.store.offline.readers import latest
from underdog.store.online.cache import LatestCache
from underdog_cli.demo_runs import DemoRun
from underdog_cli.report import _offline_vector, _sharpe_table, _state_vectors, print_demo

DAY = datetime(2024, 3, 5, tzinfo=UTC)


def render(table) -> str:
    console = Console(width=400, record=True)
    console.print(table)
    return console.export_text()


def test_sharpe_table_reads_the_evaluation_metadata() -> None:
    evaluation = {"pooled_sharpe_EURUSD": {"td3": "+30.00 [+8.00, +52.00] over 2.1 d",
                                           "flat": "+0.00 [-24.00, +24.00] over 2.1 d",
                                           "oracle": "+170.00 [+150.00, +190.00] over 2.1 d"},
                  "test_windows_EURUSD": [["2024-01-13 22:00", "2024-01-16 00:00"]]}
    text = render(_sharpe_table(evaluation, ["EURUSD", "GBPUSD"], edge=0.3))
    assert "+30.00 [+8.00, +52.00] over 2.1 d" in text and "2024-01-13 22:00 .." in text
    assert "oracle" in text and "GBPUSD" not in text.split("Does it learn?")[1]
    assert "Sharpe [interval] over trading days" in text  # a header, not Rich markup
    assert "planted edge of strength 0.3" in text and "bench/learn.py" in text


def test_sharpe_table_says_when_the_market_has_no_edge() -> None:
    evaluation = {"pooled_sharpe_EURUSD": {"td3": "-3.00 [-40.00, +34.00] over 0.7 d"}}
    text = render(_sharpe_table(evaluation, ["EURUSD"], edge=0.0))
    assert "no planted edge" in text and "not expected to beat flat" in text


def test_online_vector_is_shown_beside_the_offline_one(db: Database, redis_prefix: str) -> None:
    # The last hour has bars but no stored vectors (as the live stream's bars): the offline
    # side is then the offline builder's row for that bar.
    backfill_bars(db, ["EURUSD"], DAY - timedelta(days=1), DAY + timedelta(hours=6), seed=5)
    materialize.state_vectors(db, ["EURUSD"], DAY, DAY + timedelta(hours=5))
    cache = LatestCache.from_url(REDIS_URL, prefix=f"{redis_prefix}:report",
                                 loader=lambda k, s, src: latest(db, k, s, src))
    cache.clear()
    text = render(_state_vectors(db, cache, ["EURUSD"]))
    assert "EURUSD online @ 03-05 05:59" in text and "offline" in text
    gap = text.split("max |online - offline|")[1].split()[1]
    assert float(gap) < 1e-9
    stored = _offline_vector(db, "EURUSD", DAY + timedelta(hours=4, minutes=59))
    built = training_frame(db, "EURUSD", DAY + timedelta(hours=4, minutes=59),
                           DAY + timedelta(hours=5)).iloc[0]
    assert stored == pytest.approx({n: built[n] for n in FEATURE_NAMES}, rel=1e-9)


def test_the_demo_summary_names_the_edge_it_trained_on(
        db: Database, dagster_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # The whole closing summary, agent part included, on the settings `underdog demo` reads.
    monkeypatch.setenv("UNDERDOG_SIMULATOR_EDGE", "0.3")
    get_settings.cache_clear()
    evaluation = {"pooled_sharpe_EURUSD": {"td3": "+30.00 [+8.00, +52.00] over 0.7 d"}}
    run = DemoRun(AGENT_TRAIN.job, "1", True, "no-such-run", evaluation=evaluation)
    console = Console(width=400, record=True)
    try:
        print_demo(console, [run])
    finally:
        get_settings.cache_clear()
    text = console.export_text()
    assert "+30.00 [+8.00, +52.00] over 0.7 d" in text
    assert "planted edge of strength 0.3" in text

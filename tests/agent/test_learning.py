"""The whole training path learns: TD3 on a market with a strong planted edge beats flat on
a test window it never saw (a regression guard; bench/learn.py measures the modest edge)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from underdog.agent.config import LEARNING
from underdog.agent.simulated_market import simulated_market
from underdog.agent.walkforward import run_folds
from underdog.sources.simulated import STRONG_EDGE

MONDAY = datetime(2024, 1, 8, tzinfo=UTC)


@pytest.mark.slow
def test_td3_learns_a_strong_edge_and_beats_flat_out_of_sample() -> None:
    market = simulated_market("EURUSD", MONDAY, MONDAY + timedelta(days=8), seed=3,
                              edge=STRONG_EDGE)
    [fold] = run_folds(market.data, LEARNING.with_budget(5_000, folds=1), market.signal)
    td3 = fold.sharpe["td3"]
    assert fold.sharpe["oracle"].low > 0  # the edge is there to be learned
    assert fold.metrics["td3"]["total_return"] > fold.metrics["flat"]["total_return"]
    assert td3.low > 0.0, f"TD3's test Sharpe {td3.text()} does not clear flat's 0"

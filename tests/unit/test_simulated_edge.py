"""The simulator's planted edge: off it is today's walk, on it is momentum the features see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from underdog.agent.simulated_market import simulated_market
from underdog.market.simulated import simulate_bars
from underdog.sources.simulated import Edge, simulate_ticks, simulated_edge_signal

MONDAY = datetime(2024, 3, 4, tzinfo=UTC)
STRONG = Edge(strength=0.3)


def test_edge_off_is_the_same_walk() -> None:
    plain = simulate_ticks("EURUSD", MONDAY, MONDAY + timedelta(hours=30), seed=4)
    off = simulate_ticks("EURUSD", MONDAY, MONDAY + timedelta(hours=30), seed=4, edge=Edge())
    assert plain.equals(off)
    signal = simulated_edge_signal("EURUSD", MONDAY, MONDAY + timedelta(hours=3), seed=4,
                                   edge=Edge())
    assert len(signal) == 180 and not signal.any()


def test_edge_keeps_the_daily_closes_and_the_tick_times() -> None:
    end = MONDAY + timedelta(days=3)
    plain = simulate_bars("EURUSD", MONDAY, end, seed=4)
    edged = simulate_bars("EURUSD", MONDAY, end, seed=4, edge=STRONG)
    assert plain["time"].equals(edged["time"]) and plain["volume"].equals(edged["volume"])
    last = plain.groupby(plain["time"].dt.date).tail(1).index
    np.testing.assert_allclose(edged.loc[last, "close"], plain.loc[last, "close"], atol=3e-5)
    assert not np.allclose(edged["close"], plain["close"], atol=1e-4)


def test_the_signal_predicts_the_next_return_and_rsi_sees_it() -> None:
    market = simulated_market("EURUSD", MONDAY, MONDAY + timedelta(days=5), seed=4, edge=STRONG)
    data = market.data
    following = np.log(data.close[1:] / data.close[:-1])
    assert np.corrcoef(market.signal[:-1], following)[0, 1] > 0.15
    rsi = data.features[:, 4]
    assert np.corrcoef(market.signal, rsi)[0, 1] > 0.6  # 0.97 at modest strengths (no cap)
    plain = simulated_market("EURUSD", MONDAY, MONDAY + timedelta(days=5), seed=4)
    plain_next = np.log(plain.data.close[1:] / plain.data.close[:-1])
    assert abs(np.corrcoef(plain.data.features[:-1, 4], plain_next)[0, 1]) < 0.05


@pytest.mark.parametrize("bad", [{"strength": -0.1}, {"strength": 1.0}, {"period": 0},
                                 {"cap": 0.0}, {"strength": float("nan")}])
def test_bad_edges_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match="edge"):
        Edge(**bad)

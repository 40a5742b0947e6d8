"""The agent's market straight from the simulator, without a database: for benchmarks, tests
and the oracle.

The state vector is built by the same `state_vector.build` the store uses, from the simulated
bars alone: no sentiment, macro or regime facts (sentiment and macro read 0, the regime
defaults to transition), so only the bar features carry information, and the planted edge
(`simulated.Edge`) is what they can see. The edge's own signal comes along per bar: the
oracle's knowledge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from underdog.agent.data import MarketData
from underdog.features.state_vector import Inputs, build
from underdog.market.simulated import simulate_bars
from underdog.sources.simulated import NO_EDGE, Edge, simulated_edge_signal

WARMUP = timedelta(days=1)  # > WARMUP_BARS of bars before `start` (weekends are skipped below)


@dataclass(frozen=True)
class SimulatedMarket:
    data: MarketData
    signal: np.ndarray  # the edge's signal at each bar's close (0 with the edge off)
    edge: Edge


def simulated_market(symbol: str, start: datetime, end: datetime, *, seed: int,
                     edge: Edge = NO_EDGE) -> SimulatedMarket:
    """State vectors of the simulated bars in [start, end) with their spreads and signal."""
    warm_start = start - WARMUP
    while warm_start.weekday() >= 5:  # a weekend day has few or no bars: reach further back
        warm_start -= timedelta(days=1)
    bars = simulate_bars(symbol, warm_start, end, seed=seed, edge=edge).set_index("time")
    frame = build(Inputs.of_bars(symbol, bars), start, end)
    times = frame.index.as_unit("ns").asi8
    features = frame.drop(columns="available_at").to_numpy(dtype="float64")
    spread = bars["spread"].reindex(frame.index).to_numpy(dtype="float64")
    data = MarketData(symbol, times, features, features[:, 0].copy(), spread)
    if edge.active:
        signal = simulated_edge_signal(symbol, start, end, seed=seed, edge=edge)
        signal = signal.reindex(frame.index).fillna(0.0).to_numpy(dtype="float64")
    else:
        signal = np.zeros(len(data))
    return SimulatedMarket(data, signal, edge)

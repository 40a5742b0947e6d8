"""MT5 history over the MQL5-JSON-API HISTORY request, against the fake bridge: ticks and M1
bars of a window on a broker clock two hours ahead, day by day, errors and timeouts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from tests.streaming.conftest import free_ports
from underdog.market.simulated import simulate_bars
from underdog.sources.mt5 import MT5Error, fetch_history
from underdog.sources.simulated import simulate_ticks
from underdog_streaming.fake_bridge import BridgePorts, FakeBridge

FRIDAY = datetime(2024, 1, 5, 20, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def bridge() -> Iterator[FakeBridge]:
    with FakeBridge(ports=free_ports(), rate=0, server_utc_offset_hours=2.0, seed=7) as fake:
        yield fake


def fetch(bridge: FakeBridge, start: datetime, end: datetime, **options) -> pd.DataFrame:
    return fetch_history("EURUSD", start, end, host="127.0.0.1", sys_port=bridge.ports.sys,
                         data_port=bridge.ports.data, timeout_s=10,
                         server_utc_offset_hours=2.0, **options)


def test_ticks_over_a_weekend_equal_the_simulator(bridge: FakeBridge) -> None:
    # Friday evening to Monday morning: three requests (one a day), the weekend empty.
    start, end = FRIDAY, FRIDAY + timedelta(days=2, hours=4)
    got = fetch(bridge, start, end)
    want = simulate_ticks("EURUSD", start, end, seed=7)
    assert list(got.columns) == ["time", "bid", "ask", "bid_volume", "ask_volume"]
    assert str(got["time"].dtype) == "datetime64[ns, UTC]"
    np.testing.assert_array_equal(got["time"].to_numpy(), want["time"].to_numpy())
    np.testing.assert_array_equal(got[["bid", "ask"]].to_numpy(), want[["bid", "ask"]].to_numpy())
    assert got["bid_volume"].isna().all()  # the API sends no volumes
    weekend = (got["time"] >= datetime(2024, 1, 5, 22, tzinfo=UTC)) & (
        got["time"] < datetime(2024, 1, 7, 22, tzinfo=UTC))
    assert len(got) > 1000 and not weekend.any()
    assert got["time"].min() >= start and got["time"].max() < end


def test_m1_bars_are_closed_bars_in_price_units(bridge: FakeBridge) -> None:
    start, end = FRIDAY, FRIDAY + timedelta(hours=1)
    got = fetch(bridge, start, end, timeframe="M1")
    want = simulate_bars("EURUSD", start, end, seed=7)
    assert list(got.columns) == ["time", "open", "high", "low", "close", "volume", "spread"]
    assert got["time"].tolist() == want["time"].tolist()  # the forming bar was dropped
    for column in ("open", "high", "low", "close", "volume"):
        assert got[column].tolist() == want[column].tolist(), column
    # Spread comes back in whole points: within half a point of the mean spread.
    assert (got["spread"] - want["spread"]).abs().max() <= 0.5e-5 + 1e-12


def test_errors_and_timeouts() -> None:
    with FakeBridge(ports=free_ports(), rate=0) as fake:
        with pytest.raises(MT5Error, match="ERR_RETRIEVE_DATA_FAILED"):
            fetch_history("ABCDEF", FRIDAY, FRIDAY + timedelta(hours=1), sys_port=fake.ports.sys,
                          data_port=fake.ports.data, timeout_s=5)
    nobody = BridgePorts(*free_ports().__dict__.values())
    started = time.monotonic()
    with pytest.raises(MT5Error, match="did not acknowledge"):
        fetch_history("EURUSD", FRIDAY, FRIDAY + timedelta(hours=1), sys_port=nobody.sys,
                      data_port=nobody.data, timeout_s=0.5)
    assert time.monotonic() - started < 5
    with pytest.raises(ValueError, match="timezone-aware"):
        fetch_history("EURUSD", datetime(2024, 1, 5), FRIDAY, timeout_s=0.1)  # noqa: DTZ001

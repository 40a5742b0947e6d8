"""The receive path's tick checks: each rule, the key's sequence, and parity with
`underdog.store.offline.validation` (every tick it would reject, the checker rejects too)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from underdog.store.offline.validation import validate
from underdog.store.tables import TICKS
from underdog_streaming.checks import TickChecker
from underdog_streaming.protocols import Tick

NOW_US = 1_700_000_000_000_000
SYMBOLS = ("EURUSD", "GBPUSD")


@pytest.fixture
def checker() -> TickChecker:
    return TickChecker(SYMBOLS, max_future_s=120, max_age_s=3600)


@pytest.mark.parametrize(("tick", "reason"), [
    (Tick("EURUSD", NOW_US, 1.0850, 1.0851), None),
    (Tick("EURUSD", NOW_US, 1.0850, 1.0850), None),  # locked quotes happen
    (Tick("USDJPY", NOW_US, 150.0, 150.01), "unknown symbol"),
    (Tick("eurusd", NOW_US, 1.0850, 1.0851), "invalid symbol format"),
    (Tick("EUR/USD", NOW_US, 1.0850, 1.0851), "invalid symbol format"),
    (Tick("EURUSD", NOW_US, float("nan"), 1.0851), "price is not finite"),
    (Tick("EURUSD", NOW_US, 1.0850, float("inf")), "price is not finite"),
    (Tick("EURUSD", NOW_US, -1.0850, 1.0851), "price is not positive"),
    (Tick("EURUSD", NOW_US, 0.0, 1.0851), "price is not positive"),
    (Tick("EURUSD", NOW_US, 1.0851, 1.0850), "crossed quote: ask < bid"),
    (Tick("EURUSD", NOW_US, 1.0850, 1.2), "spread too wide"),
    (Tick("EURUSD", NOW_US, 1e300, 1e300), "price outside the instrument's range"),
    (Tick("EURUSD", NOW_US, 0.05, 0.05), "price outside the instrument's range"),
    (Tick("EURUSD", NOW_US + 121_000_000, 1.0850, 1.0851),
     "time in the future: check the server UTC offset"),
    (Tick("EURUSD", NOW_US - 3_601_000_000, 1.0850, 1.0851), "time too old"),
    (Tick("EURUSD", 10**30, 1.0850, 1.0851), "time in the future: check the server UTC offset"),
])
def test_rules(checker: TickChecker, tick: Tick, reason: str | None) -> None:
    assert checker.check(tick, NOW_US) == reason


def test_seq_counts_ticks_of_the_same_time_even_out_of_order(checker: TickChecker) -> None:
    times = [5, 5, 5, 6, 5, 7, 6]
    assert [checker.seq("EURUSD", t) for t in times] == [0, 1, 2, 0, 3, 0, 1]
    assert checker.seq("GBPUSD", 5) == 0  # per symbol


def test_everything_validation_rejects_the_checker_rejects(checker: TickChecker) -> None:
    rng = np.random.default_rng(7)
    symbols = ["EURUSD", "GBPUSD", "USDJPY", "eurusd", "", "EUR/USD", "EURUSD1"]
    prices = [1.1, 1.27, -1.0, 0.0, float("nan"), float("inf"), -float("inf"), 1e-9]
    n = 2000
    frame = pd.DataFrame({
        "symbol": rng.choice(symbols, n),
        "time": pd.to_datetime(NOW_US, unit="us", utc=True),
        "seq": np.arange(n),
        "bid": rng.choice(prices, n),
        "ask": rng.choice(prices, n),
        "bid_volume": np.nan, "ask_volume": np.nan,
        "available_at": pd.to_datetime(NOW_US, unit="us", utc=True),
    })
    checked = validate(frame, TICKS, symbols=SYMBOLS)
    kept = set(checked.good["seq"].tolist())
    rejected_by_validation = [i for i in range(n) if i not in kept]
    assert rejected_by_validation, "the sample should exercise validation's rules"
    for i in rejected_by_validation:
        row = frame.iloc[i]
        tick = Tick(row["symbol"], NOW_US, float(row["bid"]), float(row["ask"]))
        assert checker.check(tick, NOW_US) is not None, row.to_dict()

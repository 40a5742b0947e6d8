"""The online vector on the real database: one statement brings the bars and the facts, the
registry computes on arrays, and the result is the offline row, facts known at the close."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from underdog.features.indicators import WARMUP_BARS
from underdog.features.online import vector_at
from underdog.features.registry import FEATURE_NAMES
from underdog.features.state_vector import load_inputs, training_frame
from underdog.market.backfill import backfill_bars
from underdog.store.db import Database
from underdog.store.offline.writers import upsert
from underdog.store.tables import MACRO_INDICATORS, REGIME_PREDICTIONS, SENTIMENT_SCORES

DAY = datetime(2024, 3, 12, tzinfo=UTC)  # a Tuesday
END = DAY + timedelta(hours=12)


def at(hours: int, minutes: int = 0) -> datetime:
    return DAY + timedelta(hours=hours, minutes=minutes)


def _macro() -> pd.DataFrame:
    rows = [  # series, observed, realtime_start, value, available_at
        ("VIXCLS", datetime(2024, 3, 8, tzinfo=UTC), date(2024, 3, 9), 15.0, at(-27)),
        ("VIXCLS", datetime(2024, 3, 11, tzinfo=UTC), date(2024, 3, 11), 16.0, at(-1)),
        # FRED restates Mar 11 as "." at 06:00: withdrawn, Mar 8 is the answer again.
        ("VIXCLS", datetime(2024, 3, 11, tzinfo=UTC), date(2024, 3, 12), None, at(6)),
        ("DFF", datetime(2024, 3, 11, tzinfo=UTC), date(2024, 3, 11), 5.33, at(-2)),
        # Older than 30 days at every bar of the day: stale, so T10Y2Y is 0.
        ("T10Y2Y", datetime(2024, 2, 9, tzinfo=UTC), date(2024, 2, 10), -0.4, at(-31 * 24)),
    ]
    frame = pd.DataFrame(rows, columns=["series_id", "time", "realtime_start", "value",
                                        "available_at"])
    frame["realtime_end"], frame["name"], frame["units"] = None, None, None
    return frame


def _regimes() -> pd.DataFrame:
    # The 07:00 bucket, labelled "trend" at its close (07:15).
    return pd.DataFrame({
        "symbol": ["EURUSD"], "time": [at(7)], "available_at": [at(7, 15)],
        "model_version": ["2024-03-12"], "regime": ["trend"], "confidence": [0.8],
        "p_trend": [0.8], "p_range": [0.1], "p_transition": [0.1], "features": [None],
    })


def _scores() -> pd.DataFrame:
    # One item, published 07:00 and scored at 07:30: the only sentiment of the morning.
    return pd.DataFrame({
        "symbol": ["EURUSD"], "source": ["newsapi"], "item_id": ["a"], "time": [at(7)],
        "available_at": [at(7, 30)], "sentiment": [0.5], "confidence": [0.9],
        "label": ["positive"], "model": ["test"],
    })


@pytest.fixture
def market(db: Database) -> Database:
    backfill_bars(db, ["EURUSD"], DAY - timedelta(days=1), END, seed=5)
    upsert(db, MACRO_INDICATORS, _macro(), source="test")
    upsert(db, REGIME_PREDICTIONS, _regimes(), source="test")
    upsert(db, SENTIMENT_SCORES, _scores(), source="test")
    return db


def test_online_vectors_use_the_facts_known_at_the_close(market: Database) -> None:
    offline = training_frame(market, "EURUSD", DAY, END)
    expected = {  # bar start -> facts known at its close
        at(5): {"vix": 16.0, "fed_funds": 5.33, "yield_curve": 0.0, "sentiment": 0.0,
                "regime_transition": 1.0},
        at(5, 58): {"vix": 16.0},
        at(5, 59): {"vix": 15.0},  # closes at 06:00, when Mar 11 is withdrawn
        at(7, 13): {"regime_trend": 0.0, "regime_transition": 1.0},
        at(7, 14): {"regime_trend": 1.0, "regime_transition": 0.0},  # closes at 07:15
        at(7, 28): {"sentiment": 0.0},
        at(7, 29): {"sentiment": 0.5, "regime_trend": 1.0, "vix": 15.0},
    }
    for bar_time, facts in expected.items():
        online = vector_at(market, "EURUSD", bar_time)
        assert online["time"] == bar_time and online["available_at"] == bar_time + timedelta(
            minutes=1)
        assert list(online)[3:-1] == list(FEATURE_NAMES)
        for name, value in facts.items():
            assert online[name] == pytest.approx(value, rel=1e-12), (bar_time, name)
        row = offline.loc[bar_time]
        for name in FEATURE_NAMES:
            assert online[name] == pytest.approx(row[name], rel=1e-9, abs=1e-15), name


def test_no_online_vector_without_the_bar_or_enough_history(market: Database) -> None:
    assert vector_at(market, "EURUSD", END) is None  # not in the table (yet)
    assert vector_at(market, "EURUSD", datetime(2024, 3, 9, 12, tzinfo=UTC)) is None  # Sat.
    first = load_inputs(market, "EURUSD", DAY - timedelta(days=1), END).times[0]
    assert vector_at(market, "EURUSD", first + timedelta(minutes=5)) is None  # no MACD yet


def test_the_inputs_are_the_warmup_the_window_and_the_facts_up_to_its_end(
        market: Database) -> None:
    inputs = load_inputs(market, "EURUSD", at(6), at(7, 30))
    assert (inputs.times < at(6)).sum() == WARMUP_BARS
    assert inputs.times[-1] == at(7, 29)
    assert list(inputs.bars) == ["open", "high", "low", "close", "volume", "spread"]
    assert inputs.bars["volume"].dtype == np.int64
    series, _, available, value = inputs.macro
    order = np.lexsort((available, series))
    assert series[order].tolist() == ["DFF", "VIXCLS", "VIXCLS", "VIXCLS"]  # T10Y2Y: stale
    assert np.isnan(value[order][-1])  # the withdrawal comes as a missing value
    assert inputs.regimes[2].tolist() == ["trend"]
    assert inputs.scores[0].tolist() == [pd.Timestamp(at(7, 30)).value]  # the last bar's close

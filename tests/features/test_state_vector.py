"""The state vector on the real database: point in time, parity, online, materialization."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REDIS_URL, TRUNCATE
from tests.helpers import table_checksum
from underdog.features import materialize
from underdog.features.audits import lookahead_audit, parity_audit, sanity
from underdog.features.online import latest_state, update_online
from underdog.features.registry import FEATURE_NAMES, FEATURES, Feature
from underdog.features.state_vector import build, load_inputs, training_frame
from underdog.market.backfill import backfill_bars
from underdog.store.db import Database
from underdog.store.offline.readers import latest
from underdog.store.offline.writers import upsert
from underdog.store.online.cache import LatestCache
from underdog.store.tables import MACRO_INDICATORS, SENTIMENT_SCORES

DAY = datetime(2024, 3, 12, tzinfo=UTC)  # a Tuesday
NEXT = DAY + timedelta(days=1)


def _sentiment(rng: np.random.Generator) -> pd.DataFrame:
    published = DAY - timedelta(hours=30) + pd.to_timedelta(
        np.sort(rng.uniform(0, 54 * 3600, 120)), unit="s")
    return pd.DataFrame({
        "symbol": "EURUSD", "source": rng.choice(["newsapi", "reddit"], 120),
        "item_id": [f"n{i}" for i in range(120)], "time": published,
        # Known when scored: a few minutes to a few hours after publication.
        "available_at": published + pd.to_timedelta(rng.uniform(60, 4 * 3600, 120), unit="s"),
        "sentiment": rng.uniform(-1, 1, 120), "confidence": rng.uniform(0.3, 1, 120),
        "label": "neutral", "model": "test",
    })


def _macro() -> pd.DataFrame:
    rows = []
    for series, base in (("VIXCLS", 14.0), ("DFF", 5.33), ("T10Y2Y", -0.4)):
        for i in range(12):
            observed = DAY - timedelta(days=10 - i)
            vintage = observed + timedelta(days=1, hours=21)  # next evening, US Eastern-ish
            rows.append((series, observed, vintage.date(), base + i * 0.1, vintage))
            # A revision, known two days later.
            rows.append((series, observed, (vintage + timedelta(days=2)).date(),
                         base + i * 0.1 + 0.05, vintage + timedelta(days=2)))
    frame = pd.DataFrame(rows, columns=["series_id", "time", "realtime_start", "value",
                                        "available_at"])
    frame["realtime_end"], frame["name"], frame["units"] = None, None, None
    return frame


@pytest.fixture(scope="module")
def world(database: Database) -> Database:
    db = database
    with db.connection() as conn, conn.transaction():
        conn.execute(TRUNCATE)
    backfill_bars(db, ["EURUSD"], DAY - timedelta(days=36), NEXT, seed=21)
    upsert(db, SENTIMENT_SCORES, _sentiment(np.random.default_rng(2)), source="test")
    upsert(db, MACRO_INDICATORS, _macro(), source="test")
    for day in (DAY - timedelta(days=1), DAY):
        materialize.fit_regime_model(db, "EURUSD", day)
    materialize.regime_predictions(db, ["EURUSD"], DAY - timedelta(days=1), NEXT)
    return db


def test_every_bar_gets_a_finite_vector(world: Database) -> None:
    frame = training_frame(world, "EURUSD", DAY, NEXT)
    assert len(frame) == 1440 and list(frame.columns) == [*FEATURE_NAMES, "available_at"]
    assert sanity(frame) == dict.fromkeys(sanity(frame), 0)
    assert (frame["available_at"] == frame.index + timedelta(minutes=1)).all()
    assert frame["sentiment"].abs().gt(0).mean() > 0.9  # the news is really joined
    assert frame[["regime_trend", "regime_range", "regime_transition"]].sum().gt(0).sum() >= 2
    assert set(frame["vix"].round(2)) <= {14.0 + i * 0.1 + d for i in range(12)
                                          for d in (0, 0.05)}


def test_no_feature_sees_the_future(world: Database) -> None:
    inputs = load_inputs(world, "EURUSD", DAY, NEXT)
    report = lookahead_audit(inputs, DAY, NEXT, cutoffs=25, seed=4)
    assert report.cutoffs == 25 and report.rows_compared > 10_000
    assert report.passed, report.columns


def test_the_audit_names_a_feature_that_reads_the_next_bar(world: Database) -> None:
    leak = Feature("peek", "next bar's close (deliberately wrong)", ("ohlcv",),
                   lambda ctx: np.r_[ctx.bars["close"][1:], np.nan])
    inputs = load_inputs(world, "EURUSD", DAY, NEXT)
    report = lookahead_audit(inputs, DAY, NEXT, cutoffs=20, features=(*FEATURES, leak))
    assert not report.passed
    assert report.columns == ["peek"]


def test_a_macro_revision_appears_only_once_known(world: Database) -> None:
    frame = training_frame(world, "EURUSD", DAY, NEXT)
    # At DAY 00:01 the newest VIX observation known is DAY-2 (published DAY-1 21:00), first
    # vintage; its revision comes DAY+1 21:00, after this day.
    assert frame["vix"].iloc[0] == pytest.approx(14.0 + 8 * 0.1)
    assert frame.loc[DAY + timedelta(hours=21), "vix"] == pytest.approx(14.0 + 9 * 0.1)


def test_online_vectors_equal_offline_rows(world: Database) -> None:
    frame = training_frame(world, "EURUSD", DAY, NEXT)
    report = parity_audit(world, "EURUSD", frame, bars=50, seed=9)
    assert report.bars == 50
    assert report.passed, (report.worst_column, report.max_rel_diff)


def test_online_update_and_latest_state(world: Database, redis_prefix: str) -> None:
    cache = LatestCache.from_url(REDIS_URL, prefix=f"{redis_prefix}:state",
                                 loader=lambda k, s, src: latest(world, k, s, src))
    cache.clear()
    vector = update_online(world, cache, "EURUSD")
    assert vector["time"] == NEXT - timedelta(minutes=1)
    state = latest_state(cache, "EURUSD")
    assert dict(cache.stats) == {"hit": 1}
    assert state == vector
    offline = training_frame(world, "EURUSD", DAY, NEXT).iloc[-1]
    for name in FEATURE_NAMES:
        assert state[name] == pytest.approx(offline[name], rel=1e-9, abs=1e-15)


def test_latest_state_falls_back_to_the_table(world: Database, redis_prefix: str) -> None:
    materialize.state_vectors(world, ["EURUSD"], DAY, NEXT)
    cache = LatestCache.from_url(REDIS_URL, prefix=f"{redis_prefix}:cold",
                                 loader=lambda k, s, src: latest(world, k, s, src))
    cache.clear()
    state = latest_state(cache, "EURUSD")
    assert cache.stats["miss"] == 1
    assert state["time"] == NEXT - timedelta(minutes=1) and state["feature_version"] == 1


def test_materializing_twice_gives_identical_rows(world: Database) -> None:
    first = materialize.state_vectors(world, ["EURUSD"], DAY, NEXT)
    before = table_checksum(world, "state_vectors")
    materialize.state_vectors(world, ["EURUSD"], DAY, NEXT)
    assert first.written == 1440 and first.rejected == 0
    assert table_checksum(world, "state_vectors") == before


def test_build_drops_bars_without_enough_history(world: Database) -> None:
    inputs = load_inputs(world, "EURUSD", DAY, NEXT)
    short = inputs.truncated(DAY + timedelta(hours=2))
    today = short.times >= DAY
    short = replace(short, times=short.times[today],
                    bars={name: values[today] for name, values in short.bars.items()})
    frame = build(short, DAY, NEXT)
    assert 0 < len(frame) < 120  # the first bars (warm-up of MACD, ...) have no vector
    assert frame.index[0] == DAY + timedelta(minutes=33)

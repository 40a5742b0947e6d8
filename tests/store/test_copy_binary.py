"""Binary COPY encoding: every column type, NULLs, empty and non-ASCII text, round trip."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from underdog.store.db import Database
from underdog.store.offline.copy_binary import HEADER, TRAILER, decode_array, encode
from underdog.store.offline.writers import upsert
from underdog.store.tables import MACRO_INDICATORS, REGIME_PREDICTIONS

T0 = datetime(2024, 3, 5, 12, 0, 0, 123456, tzinfo=UTC)


def test_empty_frame_is_header_and_trailer() -> None:
    assert encode(pd.DataFrame({"x": []}), []) == HEADER + TRAILER


def test_nulls_dates_and_varied_text_round_trip(db: Database) -> None:
    frame = pd.DataFrame({
        "series_id": ["VIXCLS", "DFF", "T10Y2Y", "UNRATE"],
        "time": pd.to_datetime(["2024-03-01", "2024-03-01", "2024-03-02", "2024-02-01"],
                               utc=True),
        "realtime_start": [date(2024, 3, 2), date(2024, 3, 4), date(2024, 3, 4), date(1999, 1, 1)],
        "realtime_end": [None, date(2024, 3, 9), None, date(9999, 12, 31)],
        "value": [13.5, None, -0.42, 3.9],
        "name": ["Volatilité ✓", "", None, "Unemployment Rate"],
        "units": ["Index", "Percent", "Percent", None],
        "available_at": [T0, T0, T0, T0],
    })
    assert upsert(db, MACRO_INDICATORS, frame, source="test").written == 4
    with db.connection() as conn:
        rows = conn.execute(
            "SELECT series_id, time, realtime_start, realtime_end, value, name, units,"
            " available_at FROM underdog.macro_indicators ORDER BY realtime_start, series_id"
        ).fetchall()
    by_series = {r[0]: r for r in rows}
    assert by_series["DFF"][4] is None and by_series["DFF"][5] == ""
    assert by_series["VIXCLS"][5] == "Volatilité ✓"
    assert by_series["T10Y2Y"][5] is None and by_series["T10Y2Y"][4] == -0.42
    assert by_series["UNRATE"][2] == date(1999, 1, 1)
    assert by_series["UNRATE"][3] == date(9999, 12, 31)
    assert by_series["UNRATE"][6] is None
    assert all(r[7] == T0 for r in rows)  # microseconds survive


def test_jsonb_round_trips(db: Database) -> None:
    frame = pd.DataFrame({
        "symbol": ["EURUSD", "EURUSD"], "time": [T0, T0.replace(minute=1)],
        "model_version": ["hmm-1", "hmm-1"], "regime": ["trend", "range"],
        "confidence": [0.8, 0.6], "p_trend": [0.8, 0.2], "p_range": [0.1, 0.6],
        "p_transition": [0.1, 0.2],
        "features": [{"vol": 0.1, "ret": [1, 2]}, None], "available_at": [T0, T0],
    })
    upsert(db, REGIME_PREDICTIONS, frame, source="test")
    with db.connection() as conn:
        stored = [r[0] for r in conn.execute(
            "SELECT features FROM underdog.regime_predictions ORDER BY time")]
    assert stored == [{"vol": 0.1, "ret": [1, 2]}, None]


def _array(db: Database, expression: str) -> bytes | None:
    with db.connection() as conn:
        return conn.execute(f"SELECT array_send({expression})", binary=True).fetchone()[0]


def test_decode_array_matches_the_server(db: Database) -> None:
    values = decode_array(_array(db, "ARRAY[2.25, -1e300, 0]::float8[]"), "float8")
    assert values.tolist() == [2.25, -1e300, 0.0]
    stamps = decode_array(_array(db, "ARRAY[timestamptz '2024-03-05 12:00:00.5+00']"),
                          "timestamptz")
    pg_epoch = datetime(2000, 1, 1, tzinfo=UTC)
    noon = datetime(2024, 3, 5, 12, 0, 0, 500000, tzinfo=UTC)
    assert stamps.tolist() == [(noon - pg_epoch) // timedelta(microseconds=1)]
    assert decode_array(_array(db, "ARRAY[7, -1]::int8[]"), "int8").tolist() == [7, -1]


def test_decode_array_empty_and_nulls(db: Database) -> None:
    assert len(decode_array(None, "float8")) == 0
    assert len(decode_array(_array(db, "'{}'::float8[]"), "float8")) == 0
    with pytest.raises(ValueError, match="NULLs"):
        decode_array(_array(db, "ARRAY[1.5, NULL]::float8[]"), "float8")

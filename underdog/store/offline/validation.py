"""Row validation before any write: good rows go on, bad rows become dead letters.

Every rule is vectorized and gives a reason; a row gets the first reason that applies.
A frame missing a column is a caller's bug, not bad data: that raises `ValueError`.

No value from the future: a row whose `time` or `available_at` lies after the write moment
(`now`, plus the clock tolerance UNDERDOG_CLOCK_TOLERANCE_S) is rejected with reason
"future", whatever the table: a fact stored before it happened would leak into features.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from underdog.config import get_settings
from underdog.reference.instruments import SYMBOL_PATTERN
from underdog.store.tables import Column, Table


@dataclass
class Checked:
    good: pd.DataFrame  # the table's columns in order, times as UTC
    rejected: pd.DataFrame  # columns `reason` and `payload` (a JSON-safe dict per row)

    @property
    def reasons(self) -> dict[str, int]:
        return self.rejected["reason"].value_counts().to_dict() if len(self.rejected) else {}


def _as_utc(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """The column as datetime64[us, UTC], and a mask of values that are not tz-aware."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC").dt.as_unit("us"), np.zeros(len(series), bool)
    if pd.api.types.is_datetime64_dtype(series.dtype):  # naive: every row is ambiguous
        return pd.Series(pd.NaT, index=series.index, dtype="datetime64[us, UTC]"), np.ones(
            len(series), bool
        )
    aware = series.map(lambda v: isinstance(v, datetime) and v.tzinfo is not None).to_numpy()
    values = pd.Series(pd.NaT, index=series.index, dtype="datetime64[us, UTC]")
    if aware.any():
        values[aware] = pd.to_datetime(series[aware], utc=True).dt.as_unit("us")
    return values, ~aware & series.notna().to_numpy()


def _numeric(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _column_reasons(frame: pd.DataFrame, col: Column, symbols: Collection[str] | None):
    """(mask, reason) pairs for one column, in the order they are reported."""
    series = frame[col.name]
    missing = series.isna().to_numpy()
    if not col.nullable:
        yield missing, f"{col.name} is missing"
    if col.pgtype == "float8" or col.pgtype in ("int8", "int4"):
        values = _numeric(series)
        yield ~missing & np.isnan(values), f"{col.name} is not a number"
        yield np.isinf(values), f"{col.name} is not finite"
        if col.positive:
            yield values <= 0, f"{col.name} must be a positive price"
        if col.non_negative:
            yield values < 0, f"{col.name} must be >= 0"
    if col.symbol:
        # Checked once per distinct value: a backfill has a million rows but a few symbols.
        codes, uniques = pd.factorize(series.astype("string").fillna(""))
        uniques = pd.Series(uniques, dtype="string")
        bad_format = ~uniques.str.fullmatch(SYMBOL_PATTERN.pattern).to_numpy(dtype=bool)
        yield bad_format[codes], f"{col.name} has an invalid symbol format"
        if symbols is not None:
            unknown = ~uniques.isin(list(symbols)).to_numpy(dtype=bool)
            yield unknown[codes], f"{col.name} is not a known symbol"


def _key_codes(frame: pd.DataFrame, key: Sequence[str]) -> list[np.ndarray]:
    """Each key column as int64 codes that order like the values within equal-prefix runs."""
    out = []
    for name in key:
        series = frame[name]
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            out.append(pd.DatetimeIndex(series).as_unit("us").asi8)
        elif pd.api.types.is_integer_dtype(series.dtype):
            out.append(series.to_numpy(dtype="int64"))
        else:  # text, dates: first-appearance codes (equal values, equal codes)
            out.append(pd.factorize(series)[0].astype("int64"))
    return out


def _strictly_increasing(codes: list[np.ndarray]) -> bool:
    """True when consecutive rows' keys strictly increase: then no key can repeat."""
    if len(codes[0]) < 2:
        return True
    increasing = np.zeros(len(codes[0]) - 1, dtype=bool)
    equal_so_far = np.ones(len(codes[0]) - 1, dtype=bool)
    for c in codes:
        step = np.diff(c)
        increasing |= equal_so_far & (step > 0)
        equal_so_far &= step == 0
    return bool(increasing.all())


def _duplicates(clean: pd.DataFrame, key: Sequence[str]) -> np.ndarray:
    """Rows whose key an earlier row has; O(n) when the batch is in key order (a backfill)."""
    if _strictly_increasing(_key_codes(clean, key)):
        return np.zeros(len(clean), dtype=bool)
    return clean.duplicated(subset=list(key), keep="first").to_numpy()


FUTURE = "future"
STAMPS = ("time", "available_at")  # the point-in-time columns no row may have ahead of now


def write_moment(now: datetime | None = None) -> datetime:
    """The moment a write happens: `now` when given (tests, replays), else the clock."""
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.tzinfo.utcoffset(now) is None:
        raise ValueError(f"now must be timezone-aware, got naive {now!r}")
    return now


def clock_tolerance(tolerance: timedelta | None = None) -> timedelta:
    """`tolerance`, else the setting UNDERDOG_CLOCK_TOLERANCE_S."""
    if tolerance is None:
        return timedelta(seconds=get_settings().clock_tolerance_s)
    return tolerance


def latest_allowed(now: datetime | None = None,
                   tolerance: timedelta | None = None) -> pd.Timestamp:
    """The latest `time` / `available_at` a row written at `now` may carry."""
    return pd.Timestamp(write_moment(now) + clock_tolerance(tolerance))


def known_by(frame: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """The rows of a producer's output already facts at `now` (an open bar or bucket is
    not): what it offers the writer, so today's partition is not dead letters each run."""
    keep = np.ones(len(frame), dtype=bool)
    for name in (n for n in STAMPS if n in frame.columns):
        keep &= (pd.to_datetime(frame[name], utc=True) <= pd.Timestamp(now)).to_numpy(bool)
    return frame if keep.all() else frame[keep].reset_index(drop=True)


def validate(
    frame: pd.DataFrame,
    table: Table,
    *,
    window: tuple[datetime, datetime] | None = None,
    symbols: Collection[str] | None = None,
    now: datetime | None = None,
    tolerance: timedelta | None = None,
) -> Checked:
    missing = [c for c in table.column_names if c not in frame.columns]
    if missing:
        raise ValueError(f"{table.name}: frame lacks columns {missing}")
    frame = frame.reset_index(drop=True)
    # Plain numpy (not a pandas Series): a streaming micro-batch pays ~30 flags per call.
    reason = np.full(len(frame), None, dtype=object)
    ok = np.ones(len(frame), dtype=bool)  # no reason yet

    def flag(mask: np.ndarray, why: str) -> None:
        hit = np.asarray(mask, dtype=bool) & ok
        if hit.any():
            reason[hit] = why
            np.logical_and(ok, ~hit, out=ok)

    clean = frame[table.column_names].copy()
    for col in table.columns:
        if col.pgtype == "timestamptz":
            clean[col.name], naive = _as_utc(frame[col.name])
            flag(naive, f"{col.name} is not tz-aware UTC")
        for mask, why in _column_reasons(clean, col, symbols):
            flag(mask, why)
    if table.ohlc:
        o, h, lo, c = (_numeric(clean[k]) for k in ("open", "high", "low", "close"))
        with np.errstate(invalid="ignore"):
            flag(~((lo <= np.minimum(o, c)) & (np.maximum(o, c) <= h)),
                 "OHLC inconsistent: need low <= open, close <= high")
    limit = latest_allowed(now, tolerance)
    for name in (n for n in STAMPS if n in clean.columns):
        flag((clean[name] > limit).to_numpy(dtype=bool), FUTURE)
    if window is not None:
        start, end = (pd.Timestamp(t) for t in window)
        outside = ((clean["time"] < start) | (clean["time"] >= end)).to_numpy(dtype=bool)
        flag(outside, f"time outside the window [{start.isoformat()}, {end.isoformat()})")
    dupes = np.zeros(len(frame), bool)
    dupes[ok] = _duplicates(clean if ok.all() else clean[ok], table.key)
    flag(dupes, "duplicate key in batch")
    if ok.all():  # the usual case: no boolean-mask copy of every column
        return Checked(good=clean, rejected=pd.DataFrame({"reason": [], "payload": []}))
    rejected = pd.DataFrame({
        "reason": reason[~ok].astype(str),
        "payload": [json_safe(r) for r in frame[~ok].to_dict("records")],
    })
    return Checked(good=clean[ok].reset_index(drop=True), rejected=rejected)


def json_safe(row: dict) -> dict:
    def one(v: object) -> object:
        if isinstance(v, np.generic):
            v = v.item()
        if v is None or v is pd.NaT or v is pd.NA:
            return None
        if isinstance(v, datetime):
            return v.isoformat()
        if isinstance(v, float) and not math.isfinite(v):
            return None if math.isnan(v) else str(v)
        try:
            json.dumps(v)
            return v
        except TypeError:
            return str(v)

    return {str(k): one(v) for k, v in row.items()}

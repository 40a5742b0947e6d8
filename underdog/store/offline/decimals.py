"""Decimal prices and volumes as integers plus a scale, exactly.

A quote like 1.08512 is stored as units 108512 at scale 5 and read back as
`units::float8 / 10^scale`. Both operands are exact doubles (units < 2^53, 10^scale for
scale <= 22) and IEEE division is correctly rounded, so the result is the double nearest to
the decimal: the very double the writer had. The columnstore's delta-of-delta encoding
stores a random walk of integers in about a byte; the XOR (Gorilla) encoding of the same
prices as float8 took five (bench/storage.py).

A value is accepted at a scale only when that round trip gives it back bit for bit, so a
reader never sees a value other than the one written.
"""

from __future__ import annotations

import numpy as np

MAX_SCALE = 15  # 10^15 x a price still fits 2^53 for prices below 9
EXACT_UNITS = 2**53  # above this an int64 -> float8 cast may round
POW10 = 10.0 ** np.arange(MAX_SCALE + 1)
POW10_PY = [float(p) for p in POW10]
# The same powers for SQL: an array literal, indexed by scale + 1 (no pow() rounding doubt).
SQL_POW10 = "'{" + ",".join(f"1e{d}" for d in range(MAX_SCALE + 1)) + "}'::float8[]"


def round_trips(values: np.ndarray, scale: np.ndarray | int) -> np.ndarray:
    """Whether each value comes back exactly from its units at `scale`."""
    with np.errstate(invalid="ignore", over="ignore"):
        units = np.rint(values * POW10[scale])
        ok = np.abs(units) < EXACT_UNITS
        return ok & (np.where(ok, units, 0.0) / POW10[scale] == values)


def smallest_scales(values: np.ndarray, floor: int = 0) -> np.ndarray:
    """Per value, the smallest scale >= `floor` that round-trips it; -1 where none does
    (NaN, infinities, more than MAX_SCALE decimals, too large). NaN stays -1."""
    values = np.asarray(values, dtype=np.float64)
    out = np.full(len(values), -1, dtype=np.int16)
    todo = np.isfinite(values)
    for scale in range(floor, MAX_SCALE + 1):
        if not todo.any():
            break
        hit = todo & round_trips(values, scale)
        out[hit] = scale
        todo &= ~hit
    return out


def to_units(values: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """int64 units of each value at its scale (NaN gives 0: pair it with a NULL mask)."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        units = np.rint(np.nan_to_num(values) * POW10[np.maximum(scales, 0)])
    return units.astype(np.int64)


def from_units(units: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """The values back (the readers' SQL does the same division)."""
    return np.asarray(units, dtype=np.int64).astype(np.float64) / POW10[scales]


def sql_value(units: str, scale: str) -> str:
    """The SQL expression a reader uses: exactly `from_units`."""
    return f"{units}::float8 / ({SQL_POW10})[{scale} + 1]"


def scale_of(value: float, floor: int = 0) -> int | None:
    """`smallest_scales` for one value (the streaming path's per-tick cost: a few float ops)."""
    for scale in range(floor, MAX_SCALE + 1):
        units = round(value * POW10_PY[scale])
        if abs(units) < EXACT_UNITS and units / POW10_PY[scale] == value:
            return scale
    return None

"""The embedded default market: a seeded tick simulator with FX realities.

Model, all in UTC:
- Daily walk. From EPOCH (Monday 2000-01-03) each calendar day d has a volatility regime
  (a persistent Markov chain: calm / normal / turbulent) and a closing log price x_d, a slowly
  mean-reverting random walk around ln(base_price) (half-life about two years). A weekday opens
  at the previous day's close; Sunday opens at Friday's close plus a weekend gap. The walk is
  drawn in blocks of days, each from its own seed, and costs microseconds per day, so any
  day's open and close are known without simulating the ticks of the days before it.
- Intraday. Tick times come from a per-minute intensity that follows the sessions (Sydney/
  Tokyo low, London high, London/New York overlap highest, the 22:00 rollover lowest), scaled
  by the regime; every open minute gets at least one tick. The mid price is a Brownian bridge
  in log price from the day's open to its close, run on a variance clock that follows the
  session volatility profile, so realised volatility is session- and regime-dependent.
- Quotes. Spread = spread_points x session factor (wide at the rollover) x regime factor x a
  small lognormal noise, rounded to whole points, at least one point. bid is the mid rounded to
  the point grid minus half the spread; ask = bid + spread, so ask > bid always.
- Edge (off by default; `Edge`). A planted, documented momentum: each open minute's log
  return gets a drift of `strength` x that minute's expected volatility x the signal, where
  the signal is a Wilder (1/`period`) average of the previous minutes' returns in units of
  their volatility, scaled to unit variance and clipped to +-`cap`: the RSI(14)'s own
  smoothing, so the state vector's rsi, macd_hist_pct and log_return see it. The signal
  restarts at each UTC day's first open minute, and the day's drift is pinned out on the
  variance clock (as the bridge pins its walk) so daily closes, gaps and regimes are
  unchanged. No extra random numbers are drawn: with the edge off the ticks are identical.
  `simulated_edge_signal` returns the signal per bar (the oracle's knowledge).
- Determinism. A day's ticks depend only on (symbol, seed, date): every UTC day is generated
  whole from a seed hashed from those (SHA-256, never Python's salted hash()) and then sliced,
  so a range split at any instant concatenates back to the same ticks.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd

from underdog.market.hours import is_open
from underdog.reference.instruments import Instrument, get_instrument
from underdog.reference.schema import BAR_MS

EPOCH = date(2000, 1, 3)  # a Monday: weekday = days since EPOCH mod 7
REGIMES = ("calm", "normal", "turbulent")

_MINUTES_PER_DAY = 1440
_NS_PER_MS = 1_000_000
_BLOCK_DAYS = 512
_SUNDAY = 6

# Per UTC hour 0..23. Ticks per minute in the normal regime for a major pair.
_HOURLY_TICKS = np.array(
    [18, 18, 20, 20, 18, 16, 18, 45, 55, 55, 50, 50,
     75, 80, 80, 70, 50, 40, 35, 30, 25, 18, 10, 14],
    dtype=np.float64,
)  # fmt: skip
# Relative per-minute volatility: the overlap (12-16) moves about 2.5x as much as Asia.
_HOURLY_VOL = np.array(
    [0.55, 0.55, 0.60, 0.60, 0.55, 0.50, 0.60, 1.20, 1.20, 1.15, 1.05, 1.00,
     1.40, 1.60, 1.50, 1.30, 1.10, 0.90, 0.80, 0.70, 0.60, 0.50, 0.45, 0.50],
)  # fmt: skip
# Spread multiplier: thin Asian books, tight overlap, the 22:00 rollover widest.
_HOURLY_SPREAD = np.array(
    [1.3, 1.3, 1.3, 1.3, 1.3, 1.3, 1.2, 1.0, 1.0, 1.0, 1.0, 1.0,
     0.9, 0.9, 0.9, 0.9, 1.0, 1.0, 1.0, 1.1, 1.2, 1.4, 3.0, 1.8],
)  # fmt: skip
_ROLLOVER_SPIKE_MINUTES = 5  # 22:00-22:04: liquidity providers step away, spreads blow out
_ROLLOVER_SPIKE_FACTOR = 2.0

# Regime chain, one step per calendar day: mean stays ~20 (calm), ~17 (normal), ~10 days.
_TRANSITION = np.array(
    [
        [0.95, 0.05, 0.00],
        [0.03, 0.94, 0.03],
        [0.00, 0.10, 0.90],
    ]
)
_REGIME_VOL = np.array([0.6, 1.0, 1.8])
_REGIME_SPREAD = np.array([0.85, 1.0, 1.7])
_REGIME_TICKS = np.array([0.8, 1.0, 1.25])
_INITIAL_REGIME = 1

_MEAN_REVERSION_PER_DAY = 0.5 ** (1 / 500)  # keeps decades of walk near base_price
_GAP_MIN = 0.05  # weekend gap magnitude, in daily vols: at least this ...
_GAP_SCALE = 0.25  # ... plus this times |N(0, 1)|
_SPREAD_NOISE = 0.2


@dataclass(frozen=True)
class _WalkBlock:
    """Daily closes (log deviation from ln base_price), regimes and gaps of one block."""

    close: np.ndarray
    regime: np.ndarray
    gap: np.ndarray


@dataclass(frozen=True)
class Edge:
    """The planted momentum (see the module docstring); strength 0 is today's random walk."""

    strength: float = 0.0  # next minute's drift per unit signal, in that minute's vols
    period: int = 14  # Wilder smoothing 1/period: RSI(14)'s
    cap: float = 2.0  # the signal is clipped to +-cap (unit-variance units)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.strength) and 0.0 <= self.strength < 1.0):
            raise ValueError(f"edge strength must be in [0, 1), got {self.strength}")
        if self.period < 1 or not self.cap > 0:
            raise ValueError(f"edge period must be >= 1 and cap > 0, got {self.period}, "
                             f"{self.cap}")

    @property
    def active(self) -> bool:
        return self.strength > 0.0


NO_EDGE = Edge()
# A desk's edge: the oracle's Sharpe after the agent's costs is ~3.5 a year (bench/learn.py
# prints it from a year of simulation); most of its gross edge goes to costs.
MODEST_EDGE = Edge(strength=0.045)
# A loud one, for the demo and the training regression test: learnable in minutes.
STRONG_EDGE = Edge(strength=0.3)


@dataclass(frozen=True)
class _Day:
    """What the daily walk fixes about one day before its ticks are drawn."""

    open_log: float
    close_log: float
    regime: int


# ---------------------------------------------------------------- public API


def simulate_ticks(symbol: str, start: datetime, end: datetime, *, seed: int = 0,
                   edge: Edge = NO_EDGE) -> pd.DataFrame:
    """Simulated ticks in [start, end): columns TICK_COLUMNS, sorted by time.

    time is datetime64[ns, UTC] with millisecond resolution; bid/ask are on the instrument's
    point grid with ask > bid; bid_volume/ask_volume are lots (float). No ticks while the
    market is closed. Deterministic in (symbol, seed, edge, start, end). Naive datetimes, unknown
    symbols and starts before EPOCH raise ValueError.
    """
    instrument = get_instrument(symbol)
    start_ts, end_ts = _utc(start, "start"), _utc(end, "end")
    if start_ts < pd.Timestamp(EPOCH, tz="UTC"):
        raise ValueError(f"the simulator starts at {EPOCH.isoformat()}; got start {start_ts}")
    if end_ts <= start_ts:
        return _ticks_frame(*_empty_tick_arrays())
    frames = [_simulate_day(instrument, seed, day, edge)[0]
              for day in _utc_days(start_ts, end_ts)]
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return _ticks_frame(*_empty_tick_arrays())
    ticks = pd.concat(frames, ignore_index=True)
    # Whole days were generated; slicing them is what makes any split concatenate back.
    times = ticks["time"]
    return ticks[(times >= start_ts) & (times < end_ts)].reset_index(drop=True)


def simulated_edge_signal(symbol: str, start: datetime, end: datetime, *, seed: int = 0,
                          edge: Edge) -> pd.Series:
    """The planted edge's signal per open minute in [start, end), indexed by the minute's
    start: the value known at that minute's close, which sets the next minute's drift
    (ground truth for the oracle; all zero with the edge off)."""
    instrument = get_instrument(symbol)
    start_ts, end_ts = _utc(start, "start"), _utc(end, "end")
    parts = []
    for day in _utc_days(start_ts, end_ts):
        signal = _simulate_day(instrument, seed, day, edge)[1]
        minutes = pd.date_range(pd.Timestamp(day, tz="UTC"), periods=_MINUTES_PER_DAY,
                                freq="min", unit="ns")
        parts.append(pd.Series(signal, index=minutes).dropna())
    series = pd.concat(parts) if parts else pd.Series(dtype="float64")
    series = series[(series.index >= start_ts) & (series.index < end_ts)]
    return series.rename("edge_signal").rename_axis("time")


def simulated_regimes(symbol: str, start: date, end: date, *, seed: int = 0) -> pd.Series:
    """The simulator's volatility regime ("calm" / "normal" / "turbulent") per UTC date.

    Ground truth for evaluating regime classifiers; index = dates in [start, end).
    A regime holds for a whole UTC day and changes at 00:00 UTC.
    """
    instrument = get_instrument(symbol)
    dates = [start + timedelta(days=i) for i in range((end - start).days)]
    labels = [REGIMES[_day_state(instrument, seed, _day_index(d)).regime] for d in dates]
    return pd.Series(labels, index=pd.Index(dates, name="date"), name="regime", dtype="str")


# ---------------------------------------------------------------- seeding and time helpers


def _seed_sequence(*parts: object) -> np.random.SeedSequence:
    """A SeedSequence from a stable hash of the parts (stable across processes and runs)."""
    key = "|".join(str(part) for part in ("underdog-sim-v1", *parts))
    digest = hashlib.sha256(key.encode()).digest()
    return np.random.SeedSequence(int.from_bytes(digest[:16], "little"))


def _utc(value: datetime, name: str) -> pd.Timestamp:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value!r}")
    return pd.Timestamp(value).tz_convert("UTC")


def _utc_days(start: pd.Timestamp, end: pd.Timestamp) -> list[date]:
    """UTC calendar dates touched by [start, end)."""
    first = start.floor("D").date()
    last = (end - pd.Timedelta(1, "ns")).floor("D").date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _day_index(day: date) -> int:
    index = (day - EPOCH).days
    if index < 0:
        raise ValueError(f"the simulator starts at {EPOCH.isoformat()}; got {day.isoformat()}")
    return index


# ---------------------------------------------------------------- session profiles


@lru_cache(maxsize=8)
def _open_minutes(weekday: int) -> np.ndarray:
    """Open-minute mask (1440 bools) of a weekday, taken from market_hours (one source)."""
    day = datetime.combine(EPOCH + timedelta(days=weekday), datetime.min.time(), UTC)
    minutes = pd.date_range(day, periods=_MINUTES_PER_DAY, freq="min", unit="ns")
    mask = is_open(minutes)
    mask.setflags(write=False)
    return mask


def _per_minute(hourly: np.ndarray) -> np.ndarray:
    return np.repeat(hourly, 60)


_TICKS_PER_MINUTE = _per_minute(_HOURLY_TICKS)
# Each minute's share of a full day's variance; sums to 1 over the 1440 minutes.
_VARIANCE_SHARE = _per_minute(_HOURLY_VOL**2) / (_per_minute(_HOURLY_VOL**2).sum())
_SPREAD_FACTOR = _per_minute(_HOURLY_SPREAD)
_SPREAD_FACTOR[22 * 60 : 22 * 60 + _ROLLOVER_SPIKE_MINUTES] *= _ROLLOVER_SPIKE_FACTOR


@lru_cache(maxsize=1)
def _open_variance_shares() -> np.ndarray:
    """Per weekday (Monday = 0), the fraction of a full day's variance in its open minutes."""
    return np.array([_VARIANCE_SHARE[_open_minutes(w)].sum() for w in range(7)])


# ---------------------------------------------------------------- daily walk


@lru_cache(maxsize=512)
def _walk_block(symbol: str, seed: int, block: int) -> _WalkBlock:
    """Days [block * B, (block + 1) * B): continues from the previous block's last day."""
    previous_close, previous_regime = _block_start(symbol, seed, block)
    rng = np.random.default_rng(_seed_sequence(symbol, seed, "walk", block))
    uniforms = rng.random(_BLOCK_DAYS)
    shocks = rng.standard_normal(_BLOCK_DAYS)
    gap_draws = rng.standard_normal(_BLOCK_DAYS)
    weekdays = (block * _BLOCK_DAYS + np.arange(_BLOCK_DAYS)) % 7
    shares = _open_variance_shares()[weekdays]
    regime = _regime_path(uniforms, previous_regime)
    vol = get_instrument(symbol).daily_vol * _REGIME_VOL[regime]
    gap = np.where(weekdays == _SUNDAY, _weekend_gaps(gap_draws) * vol, 0.0)
    steps = vol * np.sqrt(shares) * shocks + gap
    close = _mean_reverting_walk(previous_close, steps, _MEAN_REVERSION_PER_DAY**shares)
    return _WalkBlock(close=close, regime=regime, gap=gap)


def _block_start(symbol: str, seed: int, block: int) -> tuple[float, int]:
    """Close and regime of the day before the block (the epoch starts flat, normal)."""
    if block == 0:
        return 0.0, _INITIAL_REGIME
    before = _walk_block(symbol, seed, block - 1)
    return float(before.close[-1]), int(before.regime[-1])


def _regime_path(uniforms: np.ndarray, previous: int) -> np.ndarray:
    """Markov chain path driven by the given uniforms (sequential by nature, but short)."""
    # Plain floats and bisect: numpy calls per step would dominate a cold start.
    cumulative = np.cumsum(_TRANSITION, axis=1).tolist()
    last = len(REGIMES) - 1
    path = []
    state = previous
    for u in uniforms.tolist():
        state = min(bisect.bisect_right(cumulative[state], u), last)
        path.append(state)
    return np.array(path, dtype=np.int64)


def _weekend_gaps(draws: np.ndarray) -> np.ndarray:
    """Signed gaps in daily vols, bounded away from zero so a weekend always shows one."""
    return np.sign(draws) * (_GAP_MIN + _GAP_SCALE * np.abs(draws))


def _mean_reverting_walk(start: float, steps: np.ndarray, decay: np.ndarray) -> np.ndarray:
    """x_i = decay_i * x_(i-1) + steps_i, vectorized through the cumulative decay."""
    cumulative = np.cumprod(decay)  # >= 0.5 ** (B / 500): no overflow in the division
    return cumulative * (start + np.cumsum(steps / cumulative))


def _day_state(instrument: Instrument, seed: int, day_index: int) -> _Day:
    """Open, close (log prices) and regime of the day `day_index` days after EPOCH."""
    block, offset = divmod(day_index, _BLOCK_DAYS)
    walk = _walk_block(instrument.symbol, seed, block)
    if offset > 0:
        previous_close = float(walk.close[offset - 1])
    else:
        previous_close = _block_start(instrument.symbol, seed, block)[0]
    anchor = float(np.log(instrument.base_price))
    return _Day(
        open_log=anchor + previous_close + float(walk.gap[offset]),
        close_log=anchor + float(walk.close[offset]),
        regime=int(walk.regime[offset]),
    )


# ---------------------------------------------------------------- one day of ticks


def _simulate_day(instrument: Instrument, seed: int, day: date,
                  edge: Edge = NO_EDGE) -> tuple[pd.DataFrame, np.ndarray]:
    """All ticks of one UTC day, from the day's own seed, and the edge signal per minute
    (NaN while closed)."""
    day_index = _day_index(day)
    open_mask = _open_minutes(day.weekday())
    signal = np.where(open_mask, 0.0, np.nan)
    if not open_mask.any():
        return _ticks_frame(*_empty_tick_arrays()), signal
    state = _day_state(instrument, seed, day_index)
    rng = np.random.default_rng(_seed_sequence(instrument.symbol, seed, "day", day.isoformat()))
    tick_ms = _tick_times(rng, open_mask, state.regime)
    mid = _bridge(rng, instrument, state, open_mask, tick_ms)
    if edge.active:
        mid, signal = _plant_momentum(edge, instrument, state, open_mask, tick_ms, mid)
    bid, ask = _quotes(rng, instrument, state.regime, mid, tick_ms // BAR_MS)
    bid_volume, ask_volume = _volumes(rng, len(tick_ms))
    day_ns = pd.Timestamp(day, tz="UTC").as_unit("ns").value
    return _ticks_frame(day_ns + tick_ms * _NS_PER_MS, bid, ask, bid_volume, ask_volume), signal


def _tick_times(rng: np.random.Generator, open_mask: np.ndarray, regime: int) -> np.ndarray:
    """Sorted tick times (ms since the day's 00:00), at least one in every open minute."""
    minutes = np.flatnonzero(open_mask)
    intensity = _TICKS_PER_MINUTE[minutes] * _REGIME_TICKS[regime]
    # The 1 guarantees no empty open minute; the Poisson part keeps the mean at `intensity`.
    counts = 1 + rng.poisson(np.maximum(intensity - 1.0, 0.0))
    offsets = rng.integers(0, BAR_MS, size=int(counts.sum()))
    return np.sort(np.repeat(minutes, counts) * BAR_MS + offsets)


def _bridge(
    rng: np.random.Generator,
    instrument: Instrument,
    state: _Day,
    open_mask: np.ndarray,
    tick_ms: np.ndarray,
) -> np.ndarray:
    """Mid prices at the ticks: a log-price Brownian bridge from open to close.

    Time runs on a variance clock (cumulative session variance, zero while closed), so
    the bridge is a Brownian motion with session- and regime-dependent volatility that is
    pinned to the daily walk's open and close.
    """
    daily_variance = (instrument.daily_vol * _REGIME_VOL[state.regime]) ** 2
    knots = np.r_[0.0, np.cumsum(_VARIANCE_SHARE * open_mask)] * daily_variance
    clock = np.interp(tick_ms / BAR_MS, np.arange(_MINUTES_PER_DAY + 1), knots)
    increments = np.sqrt(np.diff(clock, prepend=0.0)) * rng.standard_normal(len(clock))
    walk = np.cumsum(increments)
    total = knots[-1]
    walk_end = walk[-1] + np.sqrt(max(total - clock[-1], 0.0)) * rng.standard_normal()
    pinned = walk - (clock / total) * (walk_end - (state.close_log - state.open_log))
    return np.exp(state.open_log + pinned)


def _plant_momentum(edge: Edge, instrument: Instrument, state: _Day, open_mask: np.ndarray,
                    tick_ms: np.ndarray, mid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mid path with the edge's drift added, and the signal per minute (NaN closed)."""
    variance = (instrument.daily_vol * _REGIME_VOL[state.regime]) ** 2 * _VARIANCE_SHARE
    sigma = np.sqrt(variance)
    minute = tick_ms // BAR_MS
    last_tick = np.flatnonzero(np.r_[minute[1:] != minute[:-1], True])  # each minute's close
    closes = np.log(mid[last_tick])
    base = np.diff(closes, prepend=state.open_log)  # each open minute's own return
    alpha = 1.0 / edge.period
    unit = np.sqrt(alpha / (2.0 - alpha))  # the Wilder average's stationary std
    drift = np.zeros(_MINUTES_PER_DAY)
    signal = np.full(_MINUTES_PER_DAY, np.nan)
    average = level = 0.0
    # Sequential by nature (the drift feeds the signal), ~1k plain-float steps a day.
    for m, b in zip(minute[last_tick].tolist(), base.tolist(), strict=True):
        s = sigma[m]
        drift[m] = edge.strength * s * level
        average += alpha * ((b + drift[m]) / s - average)
        level = min(max(average / unit, -edge.cap), edge.cap)
        signal[m] = level
    knots = np.r_[0.0, np.cumsum(drift)]
    clock = np.r_[0.0, np.cumsum(variance * open_mask)]
    knots -= clock / clock[-1] * knots[-1]  # pinned: the day's close stays the walk's
    offset = np.interp(tick_ms / BAR_MS, np.arange(_MINUTES_PER_DAY + 1), knots)
    return mid * np.exp(offset), signal


def _quotes(
    rng: np.random.Generator,
    instrument: Instrument,
    regime: int,
    mid: np.ndarray,
    minute_of_day: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask on the point grid around `mid`, with ask - bid >= one point."""
    noise = np.exp(_SPREAD_NOISE * rng.standard_normal(len(mid)) - _SPREAD_NOISE**2 / 2)
    raw = instrument.spread_points * _SPREAD_FACTOR[minute_of_day] * _REGIME_SPREAD[regime]
    spread_points = np.maximum(1.0, np.rint(raw * noise))
    bid_points = np.rint(mid / instrument.point - spread_points / 2)
    # Rounding to the quote's decimals gives the closest double to the decimal price.
    bid = np.round(bid_points * instrument.point, instrument.digits)
    ask = np.round((bid_points + spread_points) * instrument.point, instrument.digits)
    return bid, ask


def _volumes(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Quoted size per side in lots (0.01 lot minimum), heavy-tailed like real books."""
    sizes = np.round(rng.lognormal(mean=0.0, sigma=0.9, size=(2, count)), 2)
    sizes = np.maximum(sizes, 0.01)
    return sizes[0], sizes[1]


def _empty_tick_arrays() -> tuple[np.ndarray, ...]:
    empty = np.empty(0, dtype=np.float64)
    return np.empty(0, dtype=np.int64), empty, empty, empty, empty


def _ticks_frame(
    time_ns: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    bid_volume: np.ndarray,
    ask_volume: np.ndarray,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": pd.to_datetime(time_ns, unit="ns", utc=True).as_unit("ns"),
            "bid": bid.astype(np.float64),
            "ask": ask.astype(np.float64),
            "bid_volume": bid_volume.astype(np.float64),
            "ask_volume": ask_volume.astype(np.float64),
        }
    )

"""The live M1 roller: ticks in arrival order -> bars, through `bars_from_ticks` only.

Per symbol it holds the ticks of the open minute. A minute is complete when a tick of a later
minute arrives, or when the clock has passed its end by a grace period (`close_due`): only
then is it rolled, by `bars_from_ticks` on all its ticks, into the closed bar. While it is
open, `provisional()` gives the bar so far, so the open minute's row in `ohlcv` grows with
it: `bars_from_ticks` rolls only the ticks that arrived since the previous call, and that
partial bar is merged into the running one (earliest open, latest close, extremes, summed
volume, volume-weighted spread), so a busy minute costs a few milliseconds a second rather
than a full re-roll of up to 300,000 ticks. There is one tick -> bar function in the project.

A tick of an already closed minute is late (`LateTick`): the bar is final, so the tick is
turned away rather than silently left out of it. The first minute a roller sees of a symbol
may have begun before the roller started (a restart): `seed` returns that minute's earlier
ticks (the streamer reads them from `ticks`); if it cannot, the minute is partial and is
neither upserted nor reported closed, so a restart never overwrites a fuller bar. Of the
seed only the ticks before the roller's own first tick are taken: a hot standby beside it
has already stored ticks this roller also receives, and counting them twice would make the
two streamers' bars disagree. (Ticks the standby had received but not yet committed when the
seed was read are missing from that one minute's bar: the joining minute only.)
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from underdog.market.bars import bars_from_ticks
from underdog.reference.schema import BAR, BAR_US

# (symbol, minute start in UTC microseconds) -> that minute's earlier ticks as
# (time_us, bid, ask) sequences, or None when they cannot be known.
Seed = Callable[[str, int], tuple[Iterable[int], Iterable[float], Iterable[float]] | None]


class LateTick(ValueError):
    """A tick whose minute was already closed."""


@dataclass(frozen=True)
class ClosedBar:
    """One M1 bar (bid OHLC, tick volume, mean spread), as `bars_from_ticks` made it."""

    symbol: str
    time: datetime  # minute start, UTC
    open: float
    high: float
    low: float
    close: float
    volume: int  # tick count
    spread: float  # mean ask - bid, price units

    @property
    def available_at(self) -> datetime:
        return self.time + BAR

    def row(self, source: str) -> dict[str, Any]:
        """The bar as an `ohlcv` row plus `available_at` (the Redis "bar" hash)."""
        return {"symbol": self.symbol, "time": self.time, "open": self.open, "high": self.high,
                "low": self.low, "close": self.close, "volume": self.volume,
                "spread": self.spread, "source": source, "available_at": self.available_at}


@dataclass
class _Partial:
    """The running bar of an open minute, and the times of its first and last tick."""

    bar: ClosedBar
    first_us: int
    last_us: int

    def merge(self, later: _Partial) -> _Partial:
        """Combine with a bar of ticks that arrived later (ties on time: arrival order, as
        `bars_from_ticks`'s stable sort has it)."""
        a, b = self.bar, later.bar
        volume = a.volume + b.volume
        bar = ClosedBar(
            a.symbol, a.time,
            b.open if later.first_us < self.first_us else a.open,
            max(a.high, b.high), min(a.low, b.low),
            b.close if later.last_us >= self.last_us else a.close,
            volume, (a.spread * a.volume + b.spread * b.volume) / volume,
        )
        return _Partial(bar, min(self.first_us, later.first_us),
                        max(self.last_us, later.last_us))


@dataclass
class _Minute:
    start_us: int
    partial: bool = False  # began before the roller did (and could not be seeded)
    times: array = field(default_factory=lambda: array("q"))
    bids: array = field(default_factory=lambda: array("d"))
    asks: array = field(default_factory=lambda: array("d"))
    running: _Partial | None = None  # the bar of ticks[:rolled]
    rolled: int = 0

    @property
    def dirty(self) -> bool:
        return self.rolled < len(self.times)

    def append(self, time_us: int, bid: float, ask: float) -> None:
        self.times.append(time_us)
        self.bids.append(bid)
        self.asks.append(ask)

    def roll(self, symbol: str, start: int = 0) -> _Partial:
        """`bars_from_ticks` on ticks[start:] (all of them one minute's)."""
        times = np.frombuffer(self.times, dtype=np.int64)[start:]
        ticks = pd.DataFrame({
            "time": pd.to_datetime(times, unit="us", utc=True),
            "bid": np.frombuffer(self.bids, dtype=np.float64)[start:],
            "ask": np.frombuffer(self.asks, dtype=np.float64)[start:],
        })
        bar = bars_from_ticks(ticks, symbol=symbol).iloc[0]
        closed = ClosedBar(symbol, bar["time"].to_pydatetime(), float(bar["open"]),
                           float(bar["high"]), float(bar["low"]), float(bar["close"]),
                           int(bar["volume"]), float(bar["spread"]))
        return _Partial(closed, int(times.min()), int(times.max()))

    def so_far(self, symbol: str) -> ClosedBar:
        """The bar of every tick so far: the running bar merged with the newer ticks'."""
        newer = self.roll(symbol, self.rolled)
        self.running = newer if self.running is None else self.running.merge(newer)
        self.rolled = len(self.times)
        return self.running.bar


class LiveRoller:
    def __init__(self, *, seed: Seed | None = None) -> None:
        self.seed = seed
        self._open: dict[str, _Minute] = {}
        self._closed_until: dict[str, int] = {}  # symbol -> end of its last closed minute

    def add(self, symbol: str, time_us: int, bid: float, ask: float) -> ClosedBar | None:
        """Take one tick; the bar it closed, if any. Raises `LateTick`."""
        start = time_us - time_us % BAR_US
        if start < self._closed_until.get(symbol, -1 << 62):
            raise LateTick(f"{symbol}: the minute of this tick is already closed")
        minute = self._open.get(symbol)
        closed = None
        if minute is not None and start > minute.start_us:
            closed = self._close(symbol)
            minute = None
        if minute is None:
            minute = self._open[symbol] = self._start(symbol, start, time_us)
        minute.append(time_us, bid, ask)
        return closed

    def close_due(self, cutoff_us: int) -> list[ClosedBar]:
        """Close every open minute that ended at or before `cutoff_us` (clock minus grace)."""
        due = [s for s, m in self._open.items() if m.start_us + BAR_US <= cutoff_us]
        return [bar for bar in map(self._close, due) if bar is not None]

    def provisional(self) -> list[ClosedBar]:
        """The bars so far of the open minutes that changed since the last call."""
        return [minute.so_far(symbol) for symbol, minute in self._open.items()
                if minute.dirty and not minute.partial]

    def open_minute(self, symbol: str) -> datetime | None:
        minute = self._open.get(symbol)
        return None if minute is None else datetime.fromtimestamp(minute.start_us / 1e6, UTC)

    def _start(self, symbol: str, start: int, first_us: int) -> _Minute:
        minute = _Minute(start)
        if self.seed is None or symbol in self._closed_until:
            return minute  # the stream began with this roller, or the minute follows a bar
        earlier = self.seed(symbol, start)
        if earlier is None:
            minute.partial = True
            return minute
        # Only the ticks before this roller's first: from there on its own feed brings them,
        # and a hot standby beside it has been storing the same ticks meanwhile.
        for time_us, bid, ask in zip(*earlier, strict=True):
            if time_us < first_us:
                minute.append(int(time_us), float(bid), float(ask))
        return minute

    def _close(self, symbol: str) -> ClosedBar | None:
        minute = self._open.pop(symbol)
        self._closed_until[symbol] = minute.start_us + BAR_US
        return None if minute.partial else minute.roll(symbol).bar

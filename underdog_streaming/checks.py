"""Per-tick validation on the receive path, in plain Python (microseconds per tick).

The rules are those `underdog.store.offline.validation` applies to the `ticks` table (known
symbol of the right format, finite positive prices), which `tests/streaming/test_checks.py`
holds them to, plus what a live feed needs: ask >= bid, a spread that is a spread, a price in the
instrument's range, and a time that is neither in the future nor stale. A failed check gives
a fixed reason string (also the metrics label, so the label set stays small).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from underdog.reference.instruments import INSTRUMENTS, SYMBOL_PATTERN
from underdog_streaming.protocols import Tick

# A price outside [typical / 10, typical * 10] is garbage, not a market move.
PRICE_BAND = 10.0
SEQ_MEMORY = 4096


class TickChecker:
    def __init__(self, symbols: Iterable[str], *, max_future_s: float = 120.0,
                 max_age_s: float = 3600.0, max_spread: float = 0.05) -> None:
        self.symbols = frozenset(symbols)
        self.max_future_us = int(max_future_s * 1e6)
        self.max_age_us = int(max_age_s * 1e6)
        self.max_spread = max_spread
        self._band = {s: (INSTRUMENTS[s].base_price / PRICE_BAND,
                          INSTRUMENTS[s].base_price * PRICE_BAND)
                      for s in self.symbols if s in INSTRUMENTS}
        self._seen: dict[str, dict[int, int]] = {s: {} for s in self.symbols}

    def check(self, tick: Tick, recv_us: int) -> str | None:
        """None if the tick is good, else why not."""
        symbol, time_us, bid, ask = tick
        if symbol not in self.symbols:
            return "unknown symbol" if SYMBOL_PATTERN.match(symbol) else "invalid symbol format"
        if not (math.isfinite(bid) and math.isfinite(ask)):
            return "price is not finite"
        if bid <= 0 or ask <= 0:
            return "price is not positive"
        if ask < bid:
            return "crossed quote: ask < bid"
        if ask - bid > self.max_spread * bid:
            return "spread too wide"
        band = self._band.get(symbol)
        if band and not band[0] <= bid <= band[1]:
            return "price outside the instrument's range"
        if time_us > recv_us + self.max_future_us:
            return "time in the future: check the server UTC offset"
        if time_us < recv_us - self.max_age_us:
            return "time too old"
        return None

    def seq(self, symbol: str, time_us: int) -> int:
        """The tick's ordinal among the symbol's ticks of the same time (the key's `seq`).

        Counts are kept for the last SEQ_MEMORY distinct times, so a tick that arrives out of
        order (a clock step back) still gets a fresh key.
        """
        seen = self._seen[symbol]
        seq = seen.get(time_us, -1) + 1
        seen[time_us] = seq
        if len(seen) > SEQ_MEMORY:  # drop the older half (dicts keep insertion order)
            for stale in list(seen)[: SEQ_MEMORY // 2]:
                del seen[stale]
        return seq

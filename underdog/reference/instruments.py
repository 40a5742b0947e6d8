"""Instrument reference data: price grid, typical price level, spread and volatility.

The table feeds the simulator (levels, spreads, volatility) and validation (known symbols,
price grid). Values are typical of 2024 retail ECN quotes; they are defaults, not market data.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# Broker symbols are upper-case alphanumerics (suffix-free); anything else is rejected early.
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{3,16}$")


@dataclass(frozen=True)
class Instrument:
    """One tradable symbol.

    point: the smallest price increment (every quote is a multiple of it).
    base_price: a typical price level, the simulator's long-run anchor.
    spread_points: the typical (London session, normal regime) spread, in points.
    daily_vol: the standard deviation of one full trading day's log return (fraction).
    """

    symbol: str
    point: float
    base_price: float
    spread_points: float
    daily_vol: float

    @property
    def digits(self) -> int:
        """Decimal places of a quote (5 for 1e-5): rounding to it gives clean decimals."""
        return max(0, round(-math.log10(self.point)))


def _table(*instruments: Instrument) -> dict[str, Instrument]:
    return {instrument.symbol: instrument for instrument in instruments}


INSTRUMENTS: dict[str, Instrument] = _table(
    Instrument("EURUSD", 1e-5, 1.0850, 10.0, 0.0045),
    Instrument("GBPUSD", 1e-5, 1.2700, 14.0, 0.0055),
    Instrument("USDJPY", 1e-3, 150.00, 12.0, 0.0060),
    Instrument("AUDUSD", 1e-5, 0.6600, 12.0, 0.0065),
    Instrument("USDCHF", 1e-5, 0.8800, 14.0, 0.0050),
    Instrument("USDCAD", 1e-5, 1.3600, 16.0, 0.0045),
    Instrument("NZDUSD", 1e-5, 0.6100, 18.0, 0.0070),
    Instrument("EURGBP", 1e-5, 0.8550, 12.0, 0.0035),
    Instrument("EURJPY", 1e-3, 162.00, 18.0, 0.0060),
    Instrument("GBPJPY", 1e-3, 190.00, 25.0, 0.0070),
    # Gold quoted to 1e-3 here (brokers differ: 1e-2 is also common); 0.25 USD spread.
    Instrument("XAUUSD", 1e-3, 2300.0, 250.0, 0.0100),
)


def get_instrument(symbol: str) -> Instrument:
    """The instrument for `symbol`; ValueError naming the known symbols if there is none."""
    try:
        return INSTRUMENTS[symbol]
    except (KeyError, TypeError):
        known = ", ".join(sorted(INSTRUMENTS))
        raise ValueError(f"unknown symbol {symbol!r}; known symbols: {known}") from None

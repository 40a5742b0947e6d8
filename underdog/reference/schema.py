"""The market data shapes every layer shares: the M1 bar length and the tick columns.

A leaf module (it imports nothing of `underdog`): `sources`, `store`, `market`, `features`,
`agent` and the sidecar all need these facts, and the layering rules forbid `sources` and
`store` to import `market`, so they cannot live there.
"""

from __future__ import annotations

from datetime import timedelta

BAR = timedelta(minutes=1)  # one M1 bar (`underdog.ohlcv`); a bar is known at its close
BAR_MS = BAR // timedelta(milliseconds=1)
BAR_US = BAR // timedelta(microseconds=1)
BAR_NS = BAR_US * 1_000

# A tick frame's columns, in this order (simulated, Dukascopy, MT5, the `ticks` table).
TICK_COLUMNS = ["time", "bid", "ask", "bid_volume", "ask_volume"]

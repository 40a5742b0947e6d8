"""The control thread: subscribe at the bridge, then poll bid/ask (and depth) into `quotes`.

MQL5-JSON-API: CONFIG each symbol for "TICK" (and "M1" with `bridge_bars`) on the system
socket; again whenever no tick came for `RESUBSCRIBE_S` (a restarted terminal forgets its
subscriptions; CONFIG is idempotent on the EA side). DWX: TRACK_PRICES on its command port.

Every `quote_interval_s` each symbol's latest valid tick becomes a `quotes` row stamped with
the snapshot time, skipped when older than `STALE_S` (a closed market has no quote). The
snapshot time is the stream's clock (`StreamConfig.clock`): the wall clock, or on a replay of
history ("ticks") the newest tick's own time, so a replay's quotes sit beside its bars and
not at today's date. Depth:
the MQL5-JSON-API has no order book request; this asks `{"action": "DEPTH", "symbol": S}`,
which the fake bridge (and a patched EA calling MarketBookGet) answers with
`{"bids": [[price, volume], ...], "asks": [...]}`. A stock EA answers ERR_WRONG_ACTION, after
which depth is not asked again and `depth` stays NULL. DWX offers no depth.
"""

from __future__ import annotations

import logging
import threading
import time

import zmq

from underdog_streaming.batcher import Batcher, QuoteRow
from underdog_streaming.config import StreamConfig
from underdog_streaming.metrics import StreamMetrics
from underdog_streaming.stats import StreamStats
from underdog_streaming.subscriber import Mql5Control, dwx_track

log = logging.getLogger(__name__)
RESUBSCRIBE_S = 30.0
RETRY_S = 5.0  # after a refused or unanswered CONFIG
STALE_S = 60.0


def depth_levels(reply: dict | None) -> dict | None:
    """The book from a DEPTH reply, or None if the reply has none."""
    if not reply or reply.get("error"):
        return None
    bids, asks = reply.get("bids"), reply.get("asks")
    if isinstance(bids, list) and isinstance(asks, list):
        return {"bids": bids, "asks": asks}
    return None


class QuotePoller:
    def __init__(self, config: StreamConfig, context: zmq.Context, batcher: Batcher,
                 metrics: StreamMetrics, stats: StreamStats) -> None:
        self.config = config
        self.context = context
        self.batcher = batcher
        self.metrics = metrics
        self.stats = stats
        self.depth = config.depth and config.protocol == "mql5"
        self.subscribed = threading.Event()
        self._configured_ns = 0
        self._retry_ns = 0

    def run(self, stop: threading.Event) -> None:
        control = self._control()
        try:
            next_poll = time.monotonic()
            while not stop.is_set():
                self._keep_subscribed(control)
                if time.monotonic() >= next_poll:
                    next_poll += self.config.quote_interval_s
                    self.poll(control)
                stop.wait(min(0.1, max(0.0, next_poll - time.monotonic())))
        finally:
            if control is not None:
                control.close()

    def _control(self) -> Mql5Control | None:
        c = self.config
        if c.protocol == "dwx":
            return None
        return Mql5Control(self.context, c.host, c.sys_port, c.data_port)

    def _keep_subscribed(self, control: Mql5Control | None) -> None:
        """Subscribe at start, and again after RESUBSCRIBE_S without a frame."""
        now = time.time_ns()
        if now < self._retry_ns:
            return
        quiet = now - max(self.stats.last_recv_ns, self._configured_ns) > RESUBSCRIBE_S * 1e9
        if self.subscribed.is_set() and not quiet:
            return
        self._configured_ns = now
        refused = self._subscribe(control)
        if refused:
            log.warning("bridge refused subscriptions (retrying in %.0f s): %s", RETRY_S,
                        "; ".join(refused))
            self._retry_ns = now + int(RETRY_S * 1e9)
        else:
            self.subscribed.set()

    def _subscribe(self, control: Mql5Control | None) -> list[str]:
        c = self.config
        if control is None:  # DWX: the server publishes what TRACK_PRICES names
            sent = dwx_track(self.context, c.host, c.push_port, c.symbols)
            return [] if sent else [f"TRACK_PRICES not taken on port {c.push_port}"]
        timeframes = ("TICK", "M1") if c.bridge_bars else ("TICK",)
        return control.configure(c.symbols, timeframes)

    def poll(self, control: Mql5Control | None) -> list[QuoteRow]:
        """One snapshot of every symbol with a fresh quote; handed to the writer."""
        replay = self.config.clock == "ticks"
        latest = self.stats.latest
        now_us = time.time_ns() // 1000
        clock_us = max((t.time_us for t in list(latest.values())), default=0) if replay else now_us
        rows = []
        for symbol in self.config.symbols:
            tick = latest.get(symbol)
            if tick is None:
                continue
            seen_us = tick.time_us if replay else tick.recv_ns // 1000
            if clock_us - seen_us > STALE_S * 1e6:
                continue
            depth = self._depth(control, symbol)
            # available_at stays the wall clock: when the row became known, as for ticks
            rows.append(QuoteRow(symbol, clock_us, tick.bid, tick.ask, depth, now_us))
        self.batcher.add(quotes=rows)
        self.stats.quotes += len(rows)
        self.metrics.quotes.inc(len(rows))
        return rows

    def _depth(self, control: Mql5Control | None, symbol: str) -> dict | None:
        if not self.depth or control is None:
            return None
        reply = control.request("DEPTH", symbol=symbol, timeout_s=0.5)
        if reply is not None and reply.get("error"):
            log.info("bridge has no depth (%s): polling bid/ask only",
                     reply.get("description"))
            self.depth = False
        return depth_levels(reply)

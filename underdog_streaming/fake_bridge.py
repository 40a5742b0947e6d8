"""A fake MT5 terminal: the MQL5-JSON-API EA or the DWX server, at a chosen tick rate.

Prices come from the embedded simulator (`underdog.sources.simulated`): one simulated day per
symbol, walked forth and back so the path never jumps, stamped with the current time (plus
the server offset, as MT5 stamps its broker's clock). Both protocols as `protocols` describes:

mql5  system REP (CONFIG / RESET / HISTORY DATA / DEPTH), data PUSH, live PUSH. Ticks flow for
      the symbols CONFIG'ed with "TICK", M1 bars (on each minute's close) for "M1". HISTORY
      DATA answers from the simulator: TICK -> [[time_msc, bid, ask], ...], M1 ->
      [[time, open, high, low, close, tick_volume, spread_points], ...] plus the forming bar,
      as the EA does. DEPTH answers five levels a side (the EA has no such action).
dwx   PUB on the pub port (an XPUB, so it knows who subscribed and sends only what someone
      receives: "sent" then means delivered to a subscriber's queue), command PULL on the
      push port (TRACK_PRICES / TRACK_RATES pick what is published).

Replay clock (`replay_from`): the simulated ticks from that instant on (same seed and edge
as a backfill), each stamped with its own simulated time and sent at `rate`, so a live
stream continues a backfilled history's clock (the demo); the stream stops when the
`REPLAY_HOURS` of ticks run out. mql5 only (DWX ticks are stamped on receipt).

Terminals (`terminals`, mql5): more MT5 terminals logged into the same account, played by
this one bridge: each has its own system, data and live ports, and every tick goes to every
terminal's live port that has a consumer (a PUSH socket deals round-robin, so two streamers
on one live port would each see half). Hot standby streamers each take one terminal. A tick
counts as sent when at least one terminal took it; `all_peers` holds the stream back until
every live port has its consumer, so standbys all start from the first tick. `record` keeps
every sent tick as (symbol, time_ms, bid, ask): what a test compares the table with.

Nothing is dropped on the bridge side (unbounded send queues): a slow consumer shows as
latency from the tick's time, not as loss. `inject` sends raw frames (tests of bad input);
`hostile=N` spreads N frames of `hostile.hostile_frame` evenly among the ticks of the run.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import zmq

from underdog.market.simulated import simulate_bars
from underdog.reference import endpoints
from underdog.reference.instruments import INSTRUMENTS, get_instrument
from underdog.sources.simulated import Edge, simulate_ticks
from underdog_streaming.hostile import hostile_frame
from underdog_streaming.protocols import (
    DELIMITER,
    format_dwx_rates,
    format_dwx_tick,
    format_mql5_bar,
    format_mql5_tick,
)

PRICE_DAY = date(2024, 3, 5)  # a Tuesday: a full day of simulated quotes
REPLAY_HOURS = 12
DEPTH_LEVELS = 5


@dataclass
class BridgePorts:
    sys: int = endpoints.MT5_SYS_PORT
    data: int = endpoints.MT5_DATA_PORT
    live: int = endpoints.MT5_LIVE_PORT
    pub: int = endpoints.DWX_PUB_PORT
    push: int = endpoints.DWX_PUSH_PORT


@dataclass
class _Path:
    """A symbol's price path, walked forth and back (no jump at the ends)."""

    bid: np.ndarray
    ask: np.ndarray
    i: int = 0
    time_ms: np.ndarray | None = None  # replay: each tick's own time

    def time_of_next(self) -> int | None:
        """Replay: the next tick's time (ms), None once the replay ran out."""
        if self.time_ms is None or self.i >= len(self.time_ms):
            return None
        return int(self.time_ms[self.i])

    def peek(self) -> tuple[float, float]:
        """The quote at the current step (advance with `i += 1`)."""
        n = len(self.bid)
        k = self.i % (2 * n - 2) if n > 1 else 0
        k = k if k < n else 2 * n - 2 - k
        return float(self.bid[k]), float(self.ask[k])


@dataclass
class _Minute:
    start_s: int
    open: float
    high: float
    low: float
    close: float
    ticks: int = 1
    spread_sum: float = 0.0

    def add(self, bid: float, ask: float) -> None:
        self.high, self.low, self.close = max(self.high, bid), min(self.low, bid), bid
        self.ticks += 1
        self.spread_sum += ask - bid


@dataclass
class FakeBridge:
    protocol: str = "mql5"
    host: str = "127.0.0.1"
    ports: BridgePorts = field(default_factory=BridgePorts)
    rate: float = 100.0  # ticks per second, all symbols together
    seconds: float = 0.0  # stop sending after this long (0: until stop())
    symbols: tuple[str, ...] = ("EURUSD", "GBPUSD")
    seed: int = 7
    server_utc_offset_hours: float = 0.0
    depth: bool = True
    hostile: int = 0  # hostile frames to spread over `seconds` (needs seconds > 0)
    max_frame_bytes: int = 16_384  # the hostile frames' largest size
    replay_from: datetime | None = None  # replay clock (mql5): ticks from here, own times
    edge: float = 0.0  # the simulator's planted edge (replay), as the backfill had it
    terminals: tuple[BridgePorts, ...] = ()  # mql5: more terminals, same ticks (sys/data/live)
    all_peers: bool = False  # send nothing until every live port has a consumer
    record: bool = False  # keep every sent tick in `sent_ticks`
    sent: int = 0
    hostile_sent: int = 0
    bars_sent: int = 0
    injected: int = 0
    sent_by_symbol: dict[str, int] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)  # DWX commands received
    sent_ticks: list[tuple[str, int, float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.protocol not in ("mql5", "dwx"):
            raise ValueError(f"protocol must be mql5 or dwx, got {self.protocol!r}")
        if self.terminals and self.protocol != "mql5":
            raise ValueError("terminals need mql5 (a DWX PUB already reaches every consumer)")
        if self.replay_from is not None and self.protocol != "mql5":
            raise ValueError("the replay clock needs mql5 (DWX ticks are stamped on receipt)")
        self.context = zmq.Context()
        self._stop = threading.Event()
        self.streaming = threading.Event()  # someone subscribed: ticks are flowing
        self.done = threading.Event()  # `seconds` elapsed
        self._inject: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._unsent: bytes | None = None  # an injected frame waiting for a peer
        self._lock = threading.Lock()
        self._ticks: set[str] = set()  # symbols whose ticks are subscribed
        self._bars: set[str] = set()  # symbols whose M1 bars are subscribed
        self._paths = {s: self._path(s) for s in self.symbols}
        self._minutes: dict[str, _Minute] = {}
        self._offset_ms = round(self.server_utc_offset_hours * 3_600_000)
        self._threads: list[threading.Thread] = []
        self._mirrors: list[zmq.Socket] = []  # the other terminals' live sockets
        if self.hostile and not self.seconds:
            raise ValueError("hostile frames are spread over the run: set seconds")
        self._rng = np.random.default_rng(self.seed)

    def _path(self, symbol: str) -> _Path:
        if self.replay_from is not None:
            ticks = simulate_ticks(symbol, self.replay_from,
                                   self.replay_from + timedelta(hours=REPLAY_HOURS),
                                   seed=self.seed, edge=Edge(self.edge))
            return _Path(ticks["bid"].to_numpy(), ticks["ask"].to_numpy(),
                         time_ms=ticks["time"].astype("int64").to_numpy() // 1_000_000)
        start = datetime.combine(PRICE_DAY, datetime.min.time(), UTC)
        ticks = simulate_ticks(symbol, start, start + timedelta(days=1), seed=self.seed)
        return _Path(ticks["bid"].to_numpy(), ticks["ask"].to_numpy())

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeBridge:
        targets = ([self._mql5_control, self._mql5_live] if self.protocol == "mql5"
                   else [self._dwx_commands, self._dwx_live])
        sockets = [self._bind(kind, port) for kind, port in self._socket_plan()]
        work = list(zip(targets, (sockets[:-1], sockets[-1:]), strict=True))
        for ports in self.terminals:  # bound before the live thread starts sending
            self._mirrors.append(self._bind(zmq.PUSH, ports.live))
            work.append((self._mql5_control, [self._bind(zmq.REP, ports.sys),
                                              self._bind(zmq.PUSH, ports.data)]))
        for target, pair in work:
            thread = threading.Thread(target=target, args=tuple(pair), daemon=True,
                                      name=f"fake-{self.protocol}-{target.__name__}")
            self._threads.append(thread)
            thread.start()
        return self

    def _socket_plan(self) -> list[tuple[int, int]]:
        p = self.ports
        if self.protocol == "mql5":
            return [(zmq.REP, p.sys), (zmq.PUSH, p.data), (zmq.PUSH, p.live)]
        return [(zmq.PULL, p.push), (zmq.XPUB, p.pub)]

    def _bind(self, kind: int, port: int) -> zmq.Socket:
        socket = self.context.socket(kind)
        socket.setsockopt(zmq.LINGER, 0)
        if kind in (zmq.PUSH, zmq.XPUB):
            socket.setsockopt(zmq.SNDHWM, 0)
        if kind == zmq.XPUB:
            socket.setsockopt(zmq.XPUB_VERBOSE, 1)
        socket.bind(f"tcp://{self.host}:{port}")
        return socket

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        self.context.destroy(linger=0)
        return self.stats()

    def stats(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "rate": self.rate, "sent": self.sent,
                "sent_by_symbol": dict(self.sent_by_symbol), "bars_sent": self.bars_sent,
                "injected": self.injected, "hostile": self.hostile_sent}

    def inject(self, frames: Iterable[bytes]) -> None:
        """Send these raw frames on the live (mql5) or pub (dwx) socket, in order."""
        for frame in frames:
            self._inject.put(frame)

    def __enter__(self) -> FakeBridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ the tick stream

    def _stream(self, socket: zmq.Socket, poll_control: Callable[[], None]) -> None:
        """Send ticks at `rate` to the subscribed symbols; injected frames in between."""
        sent = 0
        t0: float | None = None
        while not self._stop.is_set():
            poll_control()
            self._send_injected(socket)
            live = [s for s in self.symbols if s in self._ticks]
            if not live or self.done.is_set() or not self._peers_ready(socket):
                time.sleep(0.002)
                continue
            if t0 is None:
                t0 = time.perf_counter()
                self.streaming.set()
            elapsed = time.perf_counter() - t0
            if self.seconds and elapsed >= self.seconds:
                self._send_hostile(socket, self.hostile)  # the run's last ones
                self.done.set()
                continue
            due = min(int(elapsed * self.rate) - sent, 2000)
            if due <= 0:
                time.sleep(0.0005)
                continue
            for _ in range(due):
                if not self._send_tick(socket, self._next_symbol(live, sent)):
                    time.sleep(0.001)  # no peer yet (or any more): wait, stay stoppable
                    break
                sent += 1
                if self.hostile:
                    self._send_hostile(socket, min(self.hostile, int(
                        sent * self.hostile / (self.rate * self.seconds))))

    def _peers_ready(self, socket: zmq.Socket) -> bool:
        """With `all_peers`, whether every live port has a consumer (a PUSH socket is
        writable only then); once the stream has begun it is not held back again."""
        if not self.all_peers or self.streaming.is_set() or self.protocol != "mql5":
            return True
        return all(s.poll(0, zmq.POLLOUT) for s in (socket, *self._mirrors))

    def _send_hostile(self, socket: zmq.Socket, due: int) -> None:
        """Hostile frames until `due` of them were sent (spread evenly over the ticks)."""
        while self.hostile_sent < due:
            frame = hostile_frame(self._rng, self.protocol, self.symbols,
                                  time.time_ns() // 1_000_000 + self._offset_ms,
                                  self.max_frame_bytes)
            try:
                socket.send(frame, zmq.NOBLOCK)
            except zmq.Again:
                return  # no peer: the next tick tries again
            self.hostile_sent += 1

    def _next_symbol(self, live: list[str], sent: int) -> str:
        """In turn; a replay sends in time order across symbols, as a real feed does."""
        if self.replay_from is None:
            return live[sent % len(live)]
        return min(live, key=lambda s: self._paths[s].time_of_next() or float("inf"))

    def _send_injected(self, socket: zmq.Socket) -> None:
        try:
            while True:
                if self._unsent is None:
                    self._unsent = self._inject.get_nowait()
                socket.send(self._unsent, zmq.NOBLOCK)
                self._unsent = None
                self.injected += 1
        except (queue.Empty, zmq.Again):
            pass

    def _send_tick(self, socket: zmq.Socket, symbol: str) -> bool:
        """Send one tick; False if it could not go out now (a PUSH with no peer)."""
        path = self._paths[symbol]
        bid, ask = path.peek()
        now_ms = time.time_ns() // 1_000_000 + self._offset_ms
        if self.replay_from is not None:
            replayed = path.time_of_next()
            if replayed is None:
                self.done.set()  # the replay ran out: as if `seconds` had elapsed
                return True
            now_ms = replayed + self._offset_ms
        if self.protocol == "mql5":
            frame = format_mql5_tick(symbol, now_ms, bid, ask)
        else:
            frame = format_dwx_tick(symbol, bid, ask, get_instrument(symbol).digits)
        if not self._send_live(socket, frame):
            return False
        self._paths[symbol].i += 1
        self.sent += 1
        if self.record:
            self.sent_ticks.append((symbol, now_ms - self._offset_ms, bid, ask))
        self.sent_by_symbol[symbol] = self.sent_by_symbol.get(symbol, 0) + 1
        self._roll(socket, symbol, now_ms // 1000, bid, ask)
        return True

    def _send_live(self, socket: zmq.Socket, frame: bytes) -> bool:
        """To the live port of every terminal that has a consumer; whether any took it."""
        taken = False
        for live in (socket, *self._mirrors):
            try:
                live.send(frame, zmq.NOBLOCK)
                taken = True
            except zmq.Again:
                pass  # no consumer on this terminal: the EA drops it too
        return taken

    def _roll(self, socket: zmq.Socket, symbol: str, now_s: int, bid: float, ask: float) -> None:
        """The bridge's own M1 bars, sent when a minute closes (to M1 subscribers)."""
        start = now_s - now_s % 60
        minute = self._minutes.get(symbol)
        if minute is not None and minute.start_s == start:
            minute.add(bid, ask)
            return
        if minute is not None and symbol in self._bars:
            self._send_bar(socket, symbol, minute)
        self._minutes[symbol] = _Minute(start, bid, bid, bid, bid, 1, ask - bid)

    def _send_bar(self, socket: zmq.Socket, symbol: str, m: _Minute) -> None:
        if self.protocol == "mql5":
            frame = format_mql5_bar(symbol, "M1", m.start_s, m.open, m.high, m.low, m.close,
                                    m.ticks)
        else:
            point = get_instrument(symbol).point
            spread = round(m.spread_sum / m.ticks / point)
            frame = format_dwx_rates(symbol, "M1", m.start_s, m.open, m.high, m.low, m.close,
                                     m.ticks, spread, get_instrument(symbol).digits)
        try:
            socket.send(frame, zmq.NOBLOCK)
            self.bars_sent += 1
        except zmq.Again:
            pass  # the bridge's own bars are informational

    # ------------------------------------------------------------ MQL5-JSON-API

    def _mql5_live(self, live: zmq.Socket) -> None:
        self._stream(live, lambda: None)

    def _mql5_control(self, sys_socket: zmq.Socket, data: zmq.Socket) -> None:
        while not self._stop.is_set():
            if not sys_socket.poll(50):
                continue
            raw = sys_socket.recv()
            sys_socket.send(b"OK")  # the EA acknowledges first, then pushes the result
            try:
                request = json.loads(raw)
                reply = self._mql5_answer(request if isinstance(request, dict) else {})
            except ValueError:
                reply = _error(65537, "ERR_DESERIALIZATION", "RequestHandler")
            if data.poll(1000, zmq.POLLOUT):  # a PUSH with no peer would block for good
                data.send(json.dumps(reply, separators=(",", ":")).encode(), zmq.NOBLOCK)

    def _mql5_answer(self, request: dict) -> dict:
        action, symbol = request.get("action"), request.get("symbol")
        if action == "CONFIG":
            if symbol not in INSTRUMENTS:
                return _error(4301, "ERR_MARKET_UNKNOWN_SYMBOL", "ScriptConfiguration")
            with self._lock:
                (self._ticks if request.get("chartTF") == "TICK" else self._bars).add(symbol)
            return _error(0, "ERR_SUCCESS", "ScriptConfiguration")
        if action == "RESET":
            with self._lock:
                self._ticks.clear()
                self._bars.clear()
            return _error(0, "ERR_SUCCESS", "ResetSubscriptions")
        if action == "HISTORY" and request.get("actionType") == "DATA":
            return self._history(request)
        if action == "DEPTH" and self.depth and symbol in self._paths:
            return self._book(symbol)
        return _error(65538, "ERR_WRONG_ACTION", "RequestHandler")

    def _history(self, request: dict) -> dict:
        symbol, timeframe = request.get("symbol"), request.get("chartTF")
        if symbol not in INSTRUMENTS or timeframe not in ("TICK", "M1"):
            return _error(65541, "ERR_RETRIEVE_DATA_FAILED", "HistoryInfo")
        offset = timedelta(milliseconds=self._offset_ms)
        start = datetime.fromtimestamp(int(request.get("fromDate") or 0), UTC) - offset
        to = request.get("toDate")
        end = (datetime.fromtimestamp(int(to), UTC) - offset if to else datetime.now(UTC))
        if timeframe == "TICK":  # CopyTicksRange: both ends included
            ticks = simulate_ticks(symbol, start, end + timedelta(milliseconds=1), seed=self.seed)
            ms = ticks["time"].astype("int64").to_numpy() // 1_000_000 + self._offset_ms
            data = [[int(t), b, a] for t, b, a in
                    zip(ms.tolist(), ticks["bid"].tolist(), ticks["ask"].tolist(), strict=True)]
        else:
            data = self._history_bars(symbol, start, end)
        return {"data": data if data else [[]], "symbol": symbol, "timeframe": timeframe}

    def _history_bars(self, symbol: str, start: datetime, end: datetime) -> list[list]:
        bars = simulate_bars(symbol, start, end + timedelta(seconds=1), seed=self.seed)
        point = get_instrument(symbol).point
        rows = [[int(t.timestamp()) + self._offset_ms // 1000, o, h, lo, c, float(v),
                 round(s / point)]
                for t, o, h, lo, c, v, s in bars[["time", "open", "high", "low", "close",
                                                 "volume", "spread"]].itertuples(index=False)]
        if rows:  # the EA appends the forming bar after the closed ones
            rows.append([rows[-1][0] + 60, *rows[-1][1:]])
        return rows

    def _book(self, symbol: str) -> dict:
        bid, ask = self._paths[symbol].peek()
        instrument = get_instrument(symbol)
        levels = range(DEPTH_LEVELS)
        return {
            "error": False, "symbol": symbol,
            "time_msc": time.time_ns() // 1_000_000 + self._offset_ms,
            "bids": [[round(bid - k * instrument.point, instrument.digits), 1.0 + k]
                     for k in levels],
            "asks": [[round(ask + k * instrument.point, instrument.digits), 1.0 + k]
                     for k in levels],
        }

    # ------------------------------------------------------------ DWX

    def _dwx_live(self, pub: zmq.Socket) -> None:
        self._stream(pub, lambda: self._dwx_subscriptions(pub))

    def _dwx_subscriptions(self, pub: zmq.Socket) -> None:
        """XPUB hears (un)subscriptions: publish a symbol only while someone takes it."""
        try:
            while True:
                message = pub.recv(zmq.NOBLOCK)
                subscribe, topic = message[:1] == b"\x01", message[1:].decode(errors="replace")
                with self._lock:
                    for symbol in self.symbols:
                        if f"{symbol}{DELIMITER}".startswith(topic):
                            (self._ticks.add if subscribe else self._ticks.discard)(symbol)
                        if f"{symbol}_M1{DELIMITER}".startswith(topic):
                            (self._bars.add if subscribe else self._bars.discard)(symbol)
        except zmq.Again:
            pass

    def _dwx_commands(self, pull: zmq.Socket) -> None:
        """Commands are recorded (`commands`); what is published follows the subscribers."""
        while not self._stop.is_set():
            if pull.poll(50):
                self.commands.append(pull.recv().decode(errors="replace"))


def _error(code: int, description: str, function: str) -> dict:
    return {"error": code != 0, "lastError": str(code), "description": description,
            "function": function}

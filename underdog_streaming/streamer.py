"""The streaming sidecar, one process: bridge -> validate -> Redis now, PostgreSQL in batches.

Threads:
  receive   the live socket: parse, check, sequence each frame; the latest quote per symbol to
            Redis after each burst; valid ticks and dead letters into the pending batch. It
            never waits on PostgreSQL, and on Redis only for a fast-failing write.
  writer    micro-batches into `ticks` / `ohlcv` / `quotes` / `dead_letters`, or the spool
            (`writer.Writer`); bars roll here (`roller.LiveRoller`).
  control   MQL5 subscriptions and the 1-5 s bid/ask (+ depth) polling (`poller.QuotePoller`).
  heartbeat the Redis heartbeat hash (`health.Heartbeat`).
  bar-hooks `on_bar_close` calls (`hooks.HookDispatcher`).
`stop()` (what SIGTERM triggers) ends the receive loop first, then flushes: the last batch is
written (or spooled), the open minutes' bars are upserted as they stand, the hooks drain.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
from collections.abc import Callable

import zmq

from underdog.store.online.cache import LatestCache
from underdog.store.online.pipelined import fast_fail_cache
from underdog_streaming.batcher import Batcher, DeadRow, TickRow, tagged
from underdog_streaming.checks import TickChecker
from underdog_streaming.claim import SpoolClaim
from underdog_streaming.config import StreamConfig
from underdog_streaming.health import Heartbeat
from underdog_streaming.hooks import HookDispatcher, OnBarClose, redis_bar_hook
from underdog_streaming.metrics import StreamMetrics
from underdog_streaming.poller import QuotePoller
from underdog_streaming.protocols import (
    BridgeBar,
    Malformed,
    Message,
    Status,
    Tick,
    parse_dwx,
    parse_mql5,
)
from underdog_streaming.publisher import QuotePublisher
from underdog_streaming.ratelog import CountingLog
from underdog_streaming.sink import Sink, StreamDatabase
from underdog_streaming.spool import Spool
from underdog_streaming.stats import StreamStats
from underdog_streaming.subscriber import Frame, LiveFeed, dwx_feed, mql5_feed
from underdog_streaming.writer import Writer

log = logging.getLogger(__name__)
# Python hands the GIL over every 5 ms by default; the receive loop should not wait that long
# behind the writer's pandas work to put a quote in Redis.
SWITCH_INTERVAL_S = 0.0005
RAW_LIMIT = 4096  # bytes of a rejected frame kept in its dead letter
Parser = Callable[[bytes, int], Message]


def raw_payload(frame: bytes) -> dict[str, object]:
    """A dead letter's payload: the frame as text (jsonb holds no NUL), cut at RAW_LIMIT."""
    text = frame[:RAW_LIMIT].decode("utf-8", "backslashreplace").replace("\x00", "\\x00")
    return {"raw": text} if len(frame) <= RAW_LIMIT else {"raw": text, "size": len(frame)}


class Streamer:
    def __init__(self, config: StreamConfig, *, on_bar_close: OnBarClose | None = None) -> None:
        self.config = config
        self.metrics = StreamMetrics()
        self.stats = StreamStats()
        self.batcher = Batcher(max_rows=config.batch_rows)
        self.claim = SpoolClaim(config.spool_path)  # before the spool is read: it is ours
        self.spool = Spool(config.spool_path)
        self.context = zmq.Context()
        self.db = StreamDatabase(config.database_url)
        self.sink = Sink(self.db, source=config.source, symbols=config.symbols,
                         strict=config.strict_writer)
        self.publisher = QuotePublisher(self._cache(), self.metrics, self.stats,
                                        record=config.record_latencies)
        hook = on_bar_close or redis_bar_hook(self._cache(), config.source)
        self.hooks = HookDispatcher(hook, self.metrics)
        self.writer = Writer(config, self.batcher, self.sink, self.spool, self.metrics,
                             self.stats, self.hooks, cache=self._cache())
        self.poller = QuotePoller(config, self.context, self.batcher, self.metrics, self.stats)
        self.heartbeat = Heartbeat(self._cache(), self.stats, self.spool,
                                   protocol=config.protocol, interval_s=config.heartbeat_s,
                                   streamer_id=config.streamer_id)
        self.checker = TickChecker(config.symbols, max_future_s=config.max_future_s,
                                   max_age_s=config.max_age_s)
        self.malformed_log = CountingLog(log, "malformed frames rejected")
        self.drop_log = CountingLog(log, "bridge connections dropped and reconnected")
        self.metrics_port: int | None = None
        self._receiving = threading.Event()  # the live socket is connected
        self._stops = {name: threading.Event() for name in ("receive", "control", "writer")}
        self._threads: dict[str, threading.Thread] = {}
        self._switch_interval = sys.getswitchinterval()

    def _cache(self) -> LatestCache:
        c = self.config
        return fast_fail_cache(c.redis_url, prefix=c.redis_prefix, ttl_s=c.cache_ttl_s,
                               timeout_s=c.redis_timeout_s, cluster=c.redis_cluster)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Streamer:
        # First, so a port another streamer holds fails the start before anything else runs.
        if self.config.metrics_port is not None:
            self.metrics_port = self.metrics.serve(self.config.metrics_port,
                                                   self.config.metrics_addr)
        self._switch_interval = sys.getswitchinterval()  # restored by stop()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        # A full collection walks every object the imports made (pandas, numpy, psycopg...)
        # and holds the GIL for 100 ms: longer than the whole latency budget. Frozen objects
        # are skipped, so the collections left only see what the stream itself allocates.
        gc.collect()
        gc.freeze()
        self.hooks.start()
        self._spawn("writer", self.writer.run, self._stops["writer"])
        self._spawn("receive", self._receive, self._stops["receive"])
        self._receiving.wait(5)
        self._spawn("control", self.poller.run, self._stops["control"])
        self._spawn("heartbeat", self.heartbeat.run, self._stops["control"])
        log.info("streaming %s from %s (%s) into the database and Redis%s",
                 ",".join(self.config.symbols), self.config.host, self.config.protocol,
                 f" as {self.config.streamer_id}" if self.config.streamer_id else "")
        return self

    def _spawn(self, name: str, target: Callable[[threading.Event], None],
               stop: threading.Event) -> None:
        thread = threading.Thread(target=target, args=(stop,), name=name, daemon=True)
        self._threads[name] = thread
        thread.start()

    def stop(self, timeout_s: float = 30.0) -> dict[str, int | bool]:
        """Stop receiving, flush everything received, close. The final counters."""
        self._halt("receive", ("receive",), timeout_s)  # nothing new comes in after this
        self._halt("control", ("control", "heartbeat"), timeout_s)
        self._halt("writer", ("writer",), timeout_s)  # the final flush happens here
        self.hooks.stop()
        self.malformed_log.flush()
        self.drop_log.flush()
        self.heartbeat.beat(running=False)
        self.db.close()
        self.metrics.close()
        self.context.destroy(linger=0)
        self.claim.release()
        sys.setswitchinterval(self._switch_interval)
        gc.unfreeze()
        return self.stats.summary()

    def _halt(self, stop: str, threads: tuple[str, ...], timeout_s: float) -> None:
        self._stops[stop].set()
        for name in threads:
            if name in self._threads:
                self._threads[name].join(timeout_s)

    def __enter__(self) -> Streamer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ receive loop

    def _feed(self) -> tuple[LiveFeed, Parser]:
        c = self.config
        offset = c.offset_us
        bounds = {"receive_hwm": c.receive_hwm, "max_frame_bytes": c.max_frame_bytes}
        if c.protocol == "dwx":
            feed = dwx_feed(self.context, c.host, c.pub_port, c.symbols, rates=c.bridge_bars,
                            **bounds)
            return feed, lambda frame, recv_us: parse_dwx(frame, recv_us=recv_us,
                                                          offset_us=offset)
        feed = mql5_feed(self.context, c.host, c.live_port, **bounds)
        return feed, lambda frame, recv_us: parse_mql5(frame, offset_us=offset)

    def _receive(self, stop: threading.Event) -> None:
        feed, parse = self._feed()
        self._receiving.set()
        try:
            while not stop.is_set():
                frames = feed.recv_burst(100)
                if frames:
                    self._handle(frames, parse)
                else:
                    self._count_drops(feed)
                    self.publisher.publish({})  # quotes held back while Redis was down
                self.malformed_log.flush_if_due()
        finally:
            feed.close()

    def _count_drops(self, feed: LiveFeed) -> None:
        new = feed.drops - self.stats.feed_drops
        if new:
            self.stats.feed_drops = feed.drops
            self.metrics.feed_drops.inc(new)
            self.drop_log.note(f"a frame over {self.config.max_frame_bytes} bytes, or a "
                               "protocol error", new)

    def _handle(self, frames: list[Frame], parse: Parser) -> None:
        """One burst: every frame becomes a valid tick, a dead letter, or a notice."""
        ticks: list[TickRow] = []
        dead: list[DeadRow] = []
        latest: dict[str, TickRow] = {}
        check, seq, stats = self.checker.check, self.checker.seq, self.stats
        bars = statuses = 0
        for frame, recv_ns in frames:
            recv_us = recv_ns // 1000
            try:
                msg = parse(frame, recv_us)
            except Exception as exc:  # Malformed, or a parser bug: the frame is bad either way
                dead.append(self._malformed(frame, exc))
                continue
            if type(msg) is Tick:
                reason = check(msg, recv_us)
                if reason is not None:
                    dead.append(self._reject(frame, reason))
                    continue
                row = TickRow(msg.symbol, msg.time_us, seq(msg.symbol, msg.time_us), msg.bid,
                              msg.ask, recv_ns)
                ticks.append(row)
                latest[msg.symbol] = row
            elif type(msg) is BridgeBar:
                bars += 1
            elif type(msg) is Status:
                statuses += 1
                stats.bridge_connected = msg.status == "CONNECTED"
        self._count(frames, ticks, dead, bars, statuses)
        self.batcher.add(ticks, dead)
        stats.latest.update(latest)
        self.publisher.publish(latest)

    def _malformed(self, frame: bytes, exc: Exception) -> DeadRow:
        """Counted, dead-lettered, and logged as a count: never a traceback per frame."""
        if type(exc) is Malformed:
            reason = str(exc)
        else:
            reason = f"unparseable: {type(exc).__name__}"
            log.debug("unparseable frame", exc_info=exc)
        self.stats.malformed += 1
        self.malformed_log.note(reason)
        return self._reject(frame, reason)

    def _reject(self, frame: bytes, reason: str) -> DeadRow:
        self.metrics.rejected.labels(reason).inc()
        return DeadRow(self.config.source, "ticks", reason,
                       tagged(raw_payload(frame), self.config.streamer_id))

    def _count(self, frames: list[Frame], ticks: list[TickRow], dead: list[DeadRow], bars: int,
               statuses: int) -> None:
        """Tick frames are the valid ticks and every rejected frame (whatever it was meant
        to be): what came in on the tick path."""
        stats = self.stats
        tick_frames = len(ticks) + len(dead)
        stats.frames += len(frames)
        stats.ticks_received += tick_frames
        stats.ticks_accepted += len(ticks)
        stats.rejected += len(dead)
        stats.bridge_bars += bars
        stats.last_recv_ns = frames[-1][1]
        if ticks:
            stats.bridge_connected = True
        for kind, n in (("tick", tick_frames), ("bar", bars), ("status", statuses)):
            if n:
                self.metrics.frames.labels(kind).inc(n)
        self.metrics.received.inc(tick_frames)

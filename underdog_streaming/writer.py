"""The writer thread: micro-batches -> bars -> PostgreSQL, or the spool while it is down.

Every `batch_ms` (sooner when `batch_rows` ticks wait, at once when writing the previous
batch took longer than that) it takes the pending batch, rolls its ticks into the live
roller (closed bars, and every `open_bar_every_s` the open minutes' bars so far), and writes
ticks, bars, quotes and dead letters in one transaction. Order is kept across an outage:
once anything is in the spool, new batches go to the spool behind it, and the spool is
replayed oldest first (merged into large writes, within a time budget per step so new batches
keep moving) until it is empty; only then do batches go straight to the database again.
A replayed batch rewrites bars whose cached values (bar, state vector) the hooks put long
before: they are reloaded from the table after each replayed write (`LatestCache.refresh`).
A batch the database refuses for another reason than being unreachable is saved under
`<spool>/poison/` and counted: it stops nothing and is not lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from underdog.store.online.cache import LatestCache
from underdog_streaming.batcher import BarRow, Batcher, DeadRow, TickRow, WriteBatch, tagged
from underdog_streaming.config import StreamConfig
from underdog_streaming.hooks import HookDispatcher
from underdog_streaming.metrics import StreamMetrics
from underdog_streaming.roller import ClosedBar, LateTick, LiveRoller
from underdog_streaming.sink import DatabaseDown, Sink
from underdog_streaming.spool import Spool
from underdog_streaming.stats import StreamStats

log = logging.getLogger(__name__)
BACKOFF_S = (0.25, 2.0)
REPLAY_ROWS = 20_000  # rows per replayed write
REPLAY_BUDGET_S = 0.25  # replay time per step, so fresh batches are not held up


def bar_row(bar: ClosedBar) -> BarRow:
    time_us = int(bar.time.timestamp()) * 1_000_000  # minute starts: whole seconds
    return BarRow(bar.symbol, time_us, bar.open, bar.high, bar.low, bar.close, bar.volume,
                  bar.spread)


class Writer:
    def __init__(self, config: StreamConfig, batcher: Batcher, sink: Sink, spool: Spool,
                 metrics: StreamMetrics, stats: StreamStats, hooks: HookDispatcher,
                 cache: LatestCache | None = None) -> None:
        self.config = config
        self.cache = cache
        self.batcher = batcher
        self.sink = sink
        self.spool = spool
        self.metrics = metrics
        self.stats = stats
        self.hooks = hooks
        self.roller = LiveRoller(seed=self._seed)
        self._newest_us = 0  # clock "ticks": the newest tick time rolled so far
        self._retry_at = 0.0
        self._backoff = 0.0
        self._last_provisional = 0.0
        self._held: list[WriteBatch] = []  # batches neither written nor spooled (disk error)
        self.metrics.spool_records.set(spool.records)

    # ------------------------------------------------------------ loop

    def run(self, stop: threading.Event) -> None:
        self._safely(self.replay, deadline_s=30.0)  # a previous run's spool, before new ticks
        period = self.config.batch_ms / 1000
        taken = time.monotonic()
        while not stop.is_set():
            # A batch closes `batch_ms` after the previous one was taken: a step that took
            # longer than that is followed at once (group commit), not by another full wait.
            self.batcher.full.wait(max(0.0, taken + period - time.monotonic()))
            taken = time.monotonic()
            self._safely(self.step)
        self._safely(self.step, final=True)
        self._safely(self.replay, deadline_s=10.0)
        if self.spool.pending:
            log.warning("%d batches stay in %s; they are written first at the next start",
                        self.spool.records, self.spool.dir)

    def _safely(self, work: Callable[..., None], **kwargs: object) -> None:
        """Run one unit of work; an unexpected error is logged and the thread goes on."""
        try:
            work(**kwargs)
        except Exception:
            log.exception("writer: %s failed; carrying on", work.__name__)
            time.sleep(0.1)

    def step(self, *, final: bool = False) -> None:
        """One micro-batch: roll, write or spool, hand closed bars to the hooks, replay."""
        batch = self.batcher.take()
        try:
            closed = self._roll(batch)
            now = time.monotonic()
            if final or now - self._last_provisional >= self.config.open_bar_every_s:
                self._last_provisional = now
                batch.bars.extend(bar_row(b) for b in self.roller.provisional())
        except Exception:  # a bug here must not cost the batch, nor the writer thread
            self._poison(batch)
            return
        self._deliver(batch)
        self.hooks.submit(closed)
        self.stats.bars_closed += len(closed)
        self.metrics.bars.inc(len(closed))
        self.replay(deadline_s=REPLAY_BUDGET_S)

    def _roll(self, batch: WriteBatch) -> list[ClosedBar]:
        closed: list[ClosedBar] = []
        kept: list[TickRow] = []
        for row in batch.ticks:
            try:
                bar = self.roller.add(row.symbol, row.time_us, row.bid, row.ask)
            except LateTick:
                batch.dead.append(self._late(row))
                continue
            kept.append(row)
            if bar is not None:
                closed.append(bar)
        batch.ticks = kept
        if self.config.clock == "ticks":
            self._newest_us = max([self._newest_us, *(row.time_us for row in kept)])
            now_us = self._newest_us
        else:
            now_us = time.time_ns() // 1000
        cutoff_us = now_us - int(self.config.bar_grace_s * 1e6)
        closed += self.roller.close_due(cutoff_us)
        batch.bars.extend(bar_row(b) for b in closed)
        return closed

    def _late(self, row: TickRow) -> DeadRow:
        reason = "late: the tick's minute is already closed"
        self.stats.late += 1
        self.metrics.rejected.labels(reason).inc()
        return DeadRow(self.config.source, "ticks", reason,
                       tagged({"tick": list(row)}, self.config.streamer_id))

    def _seed(self, symbol: str, start_us: int) -> tuple[list, list, list] | None:
        # With batches still in the spool the database does not have the minute yet.
        return None if self.spool.pending else self.sink.minute_ticks(symbol, start_us)

    # ------------------------------------------------------------ delivery

    def _deliver(self, batch: WriteBatch) -> None:
        if not len(batch):
            return
        if self.spool.pending or self._held or time.monotonic() < self._retry_at:
            self._to_spool(batch)
            return
        try:
            self.sink.write(batch)
        except DatabaseDown as down:
            self._down(down)
            self._to_spool(batch)
            return
        except Exception:
            self._poison(batch)
            return
        self._up()
        self._written(batch.ticks)
        self._count_dead(batch)

    def replay(self, *, deadline_s: float) -> None:
        """Write spooled batches, oldest first, for up to `deadline_s`."""
        self._retry_held()
        end = time.monotonic() + deadline_s
        while self.spool.pending:
            now = time.monotonic()
            if now < self._retry_at or now >= end:
                return
            item = self.spool.read(REPLAY_ROWS)
            if item is None:
                return
            batch, position, count = item
            try:
                self.sink.write(batch)
            except DatabaseDown as down:
                self._down(down)
                return
            except Exception:
                self._poison(batch)
            else:
                self._up()
                self._written(batch.ticks)
                self._count_dead(batch)
                self.stats.replayed += len(batch.ticks)
                self._refresh_cache(batch)
            self.spool.ack(position, count)
            self.metrics.spool_records.set(self.spool.records)

    def _refresh_cache(self, batch: WriteBatch) -> None:
        symbols = sorted({b.symbol for b in batch.bars})
        if self.cache is not None and symbols:
            self.cache.refresh_tables(["ohlcv"], symbols, load=self.sink.latest)

    def _to_spool(self, batch: WriteBatch) -> None:
        if not len(batch):
            return
        try:
            self.spool.append(batch)
        except OSError:
            log.exception("spool append failed: holding the batch in memory")
            self._held.append(batch)
            return
        self.stats.spooled += len(batch.ticks)
        self.metrics.spooled.inc(len(batch.ticks))
        self.metrics.spool_records.set(self.spool.records)

    def _retry_held(self) -> None:
        held, self._held = self._held, []
        for batch in held:
            self._to_spool(batch)

    # ------------------------------------------------------------ bookkeeping

    def _written(self, ticks: list[TickRow]) -> None:
        if not ticks:
            return
        commit_ns = time.time_ns()
        recv = np.fromiter((t.recv_ns for t in ticks), np.int64, len(ticks))
        seconds = (commit_ns - recv) / 1e9
        self.metrics.to_db.observe_many(seconds)
        self.metrics.written.inc(len(ticks))
        self.stats.written += len(ticks)
        newest = max(t.time_us for t in ticks)
        self.stats.last_written_us = max(self.stats.last_written_us, newest)
        if self.config.record_latencies:
            lat = self.stats.latencies
            lat.db_ms.append(seconds * 1e3)
            lat.event_us.append(np.fromiter((t.time_us for t in ticks), np.int64, len(ticks)))
            lat.commit_ns.append(np.full(len(ticks), commit_ns, dtype=np.int64))

    def _count_dead(self, batch: WriteBatch) -> None:
        self.stats.dead_letters += len(batch.dead)
        self.metrics.dead_letters.inc(len(batch.dead))

    def _up(self) -> None:
        if not self.stats.db_up:
            log.info("PostgreSQL is reachable again")
        self._backoff = 0.0
        self.stats.db_up = True
        self.metrics.db_up.set(1)

    def _down(self, down: DatabaseDown) -> None:
        low, high = BACKOFF_S
        self._backoff = min(high, self._backoff * 2 or low)
        self._retry_at = time.monotonic() + self._backoff
        if self.stats.db_up:
            log.warning("PostgreSQL unreachable (%s): spooling to %s", down.__cause__,
                        self.spool.dir)
        self.stats.db_up = False
        self.metrics.db_up.set(0)
        self.metrics.db_errors.inc()

    def _poison(self, batch: WriteBatch) -> None:
        log.exception("the database refused a batch; saving it under poison/")
        folder = Path(self.spool.dir) / "poison"
        folder.mkdir(exist_ok=True)
        (folder / f"{time.time_ns()}.json").write_bytes(batch.to_json())
        self.stats.poisoned += 1
        self.metrics.poisoned.inc()

"""The `on_bar_close` hook: what runs when a bar closes, on a thread of its own.

Signature: `on_bar_close(symbol: str, bar: ClosedBar) -> None`.
  symbol  the bar's symbol (also `bar.symbol`)
  bar     `underdog_streaming.roller.ClosedBar`: time (minute start, UTC), open, high, low,
          close (bid), volume (tick count), spread (mean, price units), available_at
          (time + 1 minute); `bar.row(source)` is the `ohlcv` row as a dict.
It is called once per closed bar, in close order, after the bar's batch was committed to
`ohlcv` (or, with PostgreSQL down, written to the spool), so a hook that reads the last bars
from the database sees this one whenever the database is up. Calls run one at a time on
the dispatcher thread: a slow hook delays later hooks, never the tick path. An exception is
logged and counted (`underdog_stream_hook_errors_total`), and the next bar is still delivered.

The default (`redis_bar_hook`) puts the bar to Redis as kind "bar". The online state vector
plugs in here: e.g. `lambda symbol, bar: update_online(db, cache, symbol, bar.time)`.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable

from underdog.config import ConfigError
from underdog.features.online import update_online
from underdog.store.db import Database
from underdog.store.online.cache import LatestCache
from underdog_streaming.metrics import StreamMetrics
from underdog_streaming.roller import ClosedBar

log = logging.getLogger(__name__)
OnBarClose = Callable[[str, ClosedBar], None]


def redis_bar_hook(cache: LatestCache, source: str) -> OnBarClose:
    """The default hook: the bar to `<prefix>:v1:bar:<symbol>` (newer wins, 1 h TTL). A bar
    closed again (its minute reopened after a restart) was rewritten in `ohlcv`: it replaces
    the cached one of the same time."""

    def put_bar(symbol: str, bar: ClosedBar) -> None:
        cache.put("bar", symbol, bar.row(source), rewrite=True)

    return put_bar


def state_vector_hook(db: Database, cache: LatestCache, source: str) -> OnBarClose:
    """The bar to Redis, then the online state vector of that bar (features of the last 600
    bars and the facts known at its close), also to Redis as `<prefix>:v1:state:<symbol>`."""
    put_bar = redis_bar_hook(cache, source)

    def put_bar_and_state(symbol: str, bar: ClosedBar) -> None:
        put_bar(symbol, bar)
        update_online(db, cache, symbol, bar.time)

    return put_bar_and_state


class OpenOnUse:
    """A `Database` opened at its first use, and again at each use until it opens.

    The state-vector hook needs one, but the streamer must start while PostgreSQL is down
    (it spools, then catches up): opening here, on the hook thread, means a bar that closes
    during the outage fails its hook (logged, counted) and a later one finds the database.
    """

    def __init__(self, open_database: Callable[[], Database]) -> None:
        self._open = open_database
        self._db: Database | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> object:  # what update_online and readers use
        with self._lock:
            if self._db is None:
                self._db = self._open()
        return getattr(self._db, name)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


class HookDispatcher:
    def __init__(self, hook: OnBarClose, metrics: StreamMetrics) -> None:
        self.hook = hook
        self.metrics = metrics
        self.delivered = 0
        self._queue: queue.SimpleQueue[ClosedBar | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="bar-hooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, bars: Iterable[ClosedBar]) -> None:
        for bar in bars:
            self._queue.put(bar)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Deliver what is queued (up to `timeout_s`), then end the thread."""
        self._queue.put(None)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while (bar := self._queue.get()) is not None:
            try:
                self.hook(bar.symbol, bar)
            except ConfigError as exc:  # the database is not reachable (yet): no traceback
                self.metrics.hook_errors.inc()
                log.warning("on_bar_close skipped for %s %s: %s", bar.symbol, bar.time, exc)
            except Exception:
                self.metrics.hook_errors.inc()
                log.exception("on_bar_close failed for %s %s", bar.symbol, bar.time)
            self.delivered += 1

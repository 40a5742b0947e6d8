"""Plain counters of one streamer, for the heartbeat, the demo, the tests and the benchmark.

Each field has one writing thread (the receive loop, the writer, the poller), so no lock is
needed; readers see a value that is at most a moment old. Prometheus gets the same numbers
through `metrics.StreamMetrics`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from underdog_streaming.batcher import TickRow


@dataclass
class Latencies:
    """Every measured latency, kept only when `record_latencies` is on (bench, tests)."""

    redis_ms: list[float] = field(default_factory=list)
    db_ms: list[np.ndarray] = field(default_factory=list)
    # Per written tick: its event time (UTC us) and commit time (UTC ns), for bridge-to-db.
    event_us: list[np.ndarray] = field(default_factory=list)
    commit_ns: list[np.ndarray] = field(default_factory=list)

    def db(self) -> np.ndarray:
        return np.concatenate(self.db_ms) if self.db_ms else np.empty(0)


@dataclass
class StreamStats:
    frames: int = 0
    ticks_received: int = 0  # tick frames, valid or not
    ticks_accepted: int = 0
    rejected: int = 0  # frames turned away on receipt (malformed, invalid)
    malformed: int = 0  # of which could not be parsed at all
    feed_drops: int = 0  # live connections dropped by libzmq (oversize frames), reconnected
    late: int = 0  # valid ticks of an already closed minute (turned away by the writer)
    bridge_bars: int = 0
    written: int = 0  # ticks committed to PostgreSQL
    spooled: int = 0  # ticks written to the spool
    replayed: int = 0  # ticks committed from the spool
    dead_letters: int = 0
    bars_closed: int = 0
    quotes: int = 0
    redis_quotes: int = 0
    redis_errors: int = 0
    poisoned: int = 0
    bridge_connected: bool = True
    db_up: bool = True
    redis_up: bool = True
    last_recv_ns: int = 0
    last_written_us: int = 0  # event time of the newest tick in the database
    latest: dict[str, TickRow] = field(default_factory=dict)  # last valid tick per symbol
    latencies: Latencies = field(default_factory=Latencies)

    def summary(self) -> dict[str, int | bool]:
        return {k: v for k, v in vars(self).items() if isinstance(v, int | bool)}

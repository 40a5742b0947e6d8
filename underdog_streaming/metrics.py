"""Prometheus metrics of one streamer, in a registry of its own (served on a port).

A registry per instance keeps two streamers in one process (tests, the demo) apart. Latencies
start when the frame is received and end when the tick's write returned: to Redis (the latest
quote per symbol per receive burst is written; those ticks are measured) and to PostgreSQL
(the commit of its batch, or of the spool replay that finally carried it).
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

REDIS_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
DB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class MetricsPortInUse(RuntimeError):
    """The /metrics port is taken (streamers side by side each need their own)."""


class BulkHistogram(Collector):
    """A Prometheus histogram fed whole arrays at a time.

    `Histogram.observe` costs microseconds a value; at 10,000 ticks a second that is a
    noticeable share of the writer's time, so the batch's latencies are binned with numpy.
    """

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...],
                 registry: CollectorRegistry) -> None:
        self.name, self.documentation = name, documentation
        self.edges = np.array(buckets, dtype=np.float64)
        self._counts = np.zeros(len(buckets) + 1, dtype=np.int64)  # last: above the top edge
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe(self, value: float) -> None:
        self.observe_many(np.array([value]))

    def observe_many(self, values: np.ndarray) -> None:
        # side="left": a value equal to an edge falls in that bucket (le = less or equal).
        bins = np.bincount(np.searchsorted(self.edges, values, side="left"),
                           minlength=len(self._counts))
        with self._lock:
            self._counts += bins
            self._sum += float(values.sum())

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            cumulative = np.cumsum(self._counts).tolist()
            total = self._sum
        labels = [*(repr(float(e)) for e in self.edges), "+Inf"]
        family = HistogramMetricFamily(self.name, self.documentation,
                                       buckets=list(zip(labels, cumulative, strict=True)),
                                       sum_value=total)
        yield family

    def count(self) -> int:
        with self._lock:
            return int(self._counts.sum())


class StreamMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        p = "underdog_stream"
        self.frames = Counter(f"{p}_frames_received", "Frames received from the bridge",
                              ["kind"], registry=r)
        self.received = Counter(f"{p}_ticks_received", "Ticks received (valid or not)",
                                registry=r)
        self.written = Counter(f"{p}_ticks_written", "Ticks committed to PostgreSQL",
                               registry=r)
        self.spooled = Counter(f"{p}_ticks_spooled", "Ticks written to the on-disk spool",
                               registry=r)
        self.rejected = Counter(f"{p}_ticks_rejected", "Frames and ticks turned away",
                                ["reason"], registry=r)
        self.feed_drops = Counter(f"{p}_feed_drops", "Live connections libzmq dropped (a frame "
                                  "over max_frame_bytes, a protocol error), then reconnected",
                                  registry=r)
        self.dead_letters = Counter(f"{p}_dead_letters", "Rows written to dead_letters",
                                    registry=r)
        self.bars = Counter(f"{p}_bars_closed", "M1 bars closed", registry=r)
        self.quotes = Counter(f"{p}_quotes_polled", "Bid/ask snapshots taken", registry=r)
        self.redis_errors = Counter(f"{p}_redis_errors", "Failed Redis writes", registry=r)
        self.db_errors = Counter(f"{p}_db_unreachable", "Writes that found PostgreSQL down",
                                 registry=r)
        self.hook_errors = Counter(f"{p}_hook_errors", "on_bar_close calls that raised",
                                   registry=r)
        self.poisoned = Counter(f"{p}_batches_poisoned", "Batches the database refused "
                                "(saved under <spool>/poison)", registry=r)
        self.spool_records = Gauge(f"{p}_spool_records", "Batches waiting in the spool",
                                   registry=r)
        self.db_up = Gauge(f"{p}_db_up", "1 if the last database write succeeded", registry=r)
        self.redis_up = Gauge(f"{p}_redis_up", "1 if the last Redis write succeeded",
                              registry=r)
        self.to_redis = BulkHistogram(f"{p}_tick_to_redis_seconds", "Receipt to Redis write",
                                      REDIS_BUCKETS, r)
        self.to_db = BulkHistogram(f"{p}_tick_to_db_seconds", "Receipt to database commit",
                                   DB_BUCKETS, r)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def serve(self, port: int, addr: str = "127.0.0.1") -> int:
        """Serve /metrics on `port` (0: any free port); the port. Raises `MetricsPortInUse`."""
        try:
            self._server, self._thread = start_http_server(port, addr, registry=self.registry)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise MetricsPortInUse(
                f"metrics port {addr}:{port} is in use (another streamer?): give each streamer "
                "its own --metrics-port, or 0 for any free one") from exc
        return int(self._server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

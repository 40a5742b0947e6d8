"""Prometheus metrics read at scrape time, so no number depends on a process being alive.

`underdog metrics serve` (the `exporter` service of docker/) registers `StoreCollector`, which
turns one `health.collect` report into metric families on every scrape: feed lag and
staleness (the same verdict as `underdog health`), rows today, feature age per symbol (offline
table and online Redis vector), dead letters, table sizes and compression, Redis memory and
hit ratio, the streamer's heartbeat, the read replica's lag. Dagster runs are short-lived:
their rows, durations, failures and the agent's evaluation figures come from Dagster's event
log, through `underdog_cli.run_metrics` (imported by the CLI, since the core never imports Dagster).
The streamer serves its own live counters and latency histograms
(`underdog_streaming.metrics`).

The agent gauges below are the names the training and evaluation code sets in its own process
(`agent_metrics` also returns them as the materialization metadata the exporter reads back).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import psycopg
from prometheus_client import Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from underdog.config import ConfigError, Settings
from underdog.ops.health import HealthReport, collect

log = logging.getLogger(__name__)

AGENT_LABELS = ("policy_version", "window")
# metadata key -> (metric, help). The exporter reads these keys back from the newest
# td3_policy / td3_evaluation materializations; the gauges serve a long-lived process.
AGENT_METRICS = {
    "total_return": ("underdog_agent_eval_total_return",
                     "Total return of the policy over the evaluation window"),
    "sharpe": ("underdog_agent_eval_sharpe", "Annualized Sharpe ratio over the evaluation window"),
    "max_drawdown": ("underdog_agent_eval_max_drawdown",
                     "Maximum drawdown over the evaluation window (fraction)"),
    "train_steps_per_second": ("underdog_agent_train_steps_per_second",
                               "Environment steps per second while training"),
}
AGENT_GAUGES = {key: Gauge(name, doc, AGENT_LABELS) for key, (name, doc) in AGENT_METRICS.items()}


AGENT_METADATA_KEY = "agent_metrics"


def agent_metrics(policy_version: str, window: str, **values: float | None) -> dict[str, object]:
    """Set the agent gauges here, and return them as one row of materialization metadata.

    `values`: any of total_return, sharpe, max_drawdown, train_steps_per_second. A short-lived
    run is seen by the exporter through the td3_policy / td3_evaluation metadata: the row's
    keys at the top level, or a list of rows (one per policy) under "agent_metrics".
    """
    unknown = set(values) - set(AGENT_GAUGES)
    if unknown:
        raise ValueError(f"unknown agent metrics: {sorted(unknown)}")
    labels = {"policy_version": str(policy_version), "window": str(window)}
    out: dict[str, object] = dict(labels)
    for name, value in values.items():
        if value is not None:
            AGENT_GAUGES[name].labels(**labels).set(float(value))
            out[name] = float(value)
    return out


def _gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def report_metrics(report: HealthReport) -> list[Metric]:
    """One report as metric families (the names the dashboards and alert rules use)."""
    lag = _gauge("underdog_feed_lag_seconds", "Age of the newest fact per table and key "
                 "(open-market time for market tables)", ("table", "key"))
    known = _gauge("underdog_feed_last_known_timestamp_seconds",
                   "When the newest fact per table and key became known", ("table", "key"))
    today = _gauge("underdog_feed_rows_today", "Rows per table and key since 00:00 UTC",
                   ("table", "key"))
    allowed = _gauge("underdog_feed_max_lag_seconds", "Allowed lag per table", ("table",))
    stale = _gauge("underdog_feed_stale", "1 if the table is stale (as `underdog health`)",
                   ("table",))
    feature = _gauge("underdog_feature_age_seconds", "Age of the newest state vector per "
                     "symbol: offline (table) and online (Redis)", ("symbol", "path"))
    for feed in report.feeds:
        if feed.threshold.max_lag is not None:
            allowed.add_metric([feed.table], feed.threshold.max_lag.total_seconds())
        stale.add_metric([feed.table], 1.0 if feed.stale else 0.0)
        for key in feed.keys:
            today.add_metric([feed.table, key.key], key.rows_today)
            if key.newest is not None:
                lag.add_metric([feed.table, key.key], key.lag_s or 0.0)
                known.add_metric([feed.table, key.key], key.newest.timestamp())
                if feed.table == "state_vectors":
                    age = (report.now - key.newest).total_seconds()
                    feature.add_metric([key.key, "offline"], max(age, 0.0))
    for symbol, moment in report.online.items():
        if moment is not None:
            feature.add_metric([symbol, "online"], max((report.now - moment).total_seconds(),
                                                       0.0))
    letters = _gauge("underdog_dead_letters_24h", "Rows dead-lettered in the last 24 h",
                     ("source", "table"))
    for (source, table), count in sorted(report.dead_letters.items()):
        letters.add_metric([source, table], count)
    return [lag, known, today, allowed, stale, feature, letters, *_storage(report),
            *_redis(report), *_stream(report), *_replica(report), _problems(report)]


def _storage(report: HealthReport) -> list[Metric]:
    size = _gauge("underdog_table_size_bytes", "Table size on disk, indexes included",
                  ("table",))
    chunks = _gauge("underdog_table_chunks", "Hypertable chunks (TimescaleDB)", ("table",))
    compressed = _gauge("underdog_table_compressed_chunks", "Chunks in the columnstore",
                        ("table",))
    ratio = _gauge("underdog_compression_ratio", "Bytes before / after compression of the "
                   "compressed chunks (TimescaleDB)", ("table",))
    for s in report.storage:
        size.add_metric([s.table], s.size_bytes)
        if s.chunks is not None:
            chunks.add_metric([s.table], s.chunks)
            compressed.add_metric([s.table], s.compressed_chunks or 0)
        if s.compression_ratio is not None:
            ratio.add_metric([s.table], s.compression_ratio)
    timescale = _gauge("underdog_timescaledb", "1 if the database has TimescaleDB")
    timescale.add_metric([], 1.0 if report.backend == "TimescaleDB" else 0.0)
    return [size, chunks, compressed, ratio, timescale]


def _redis(report: HealthReport) -> list[Metric]:
    r = report.redis
    out: list[Metric] = []
    if not r.up:
        return out
    for name, doc, value in (
        ("underdog_redis_used_memory_bytes", "Redis used_memory", r.used_memory),
        ("underdog_redis_maxmemory_bytes", "Redis maxmemory (0: unlimited)", r.maxmemory),
    ):
        family = _gauge(name, doc)
        family.add_metric([], value)
        out.append(family)
    for name, doc, value in (
        ("underdog_redis_keyspace_hits", "Redis keyspace hits since it started", r.hits),
        ("underdog_redis_keyspace_misses", "Redis keyspace misses since it started", r.misses),
        ("underdog_redis_evicted_keys", "Keys evicted by maxmemory-policy", r.evicted),
    ):
        family = CounterMetricFamily(name, doc)
        family.add_metric([], value)
        out.append(family)
    if r.hit_ratio is not None:
        ratio = _gauge("underdog_redis_hit_ratio", "keyspace hits / (hits + misses) since the "
                       "server started")
        ratio.add_metric([], r.hit_ratio)
        out.append(ratio)
    return out


def _stream(report: HealthReport) -> list[Metric]:
    s = report.stream
    if not s.seen:
        return []
    out = []
    for name, doc, value in (
        ("underdog_stream_heartbeat_age_seconds", "Since the streamer's last heartbeat",
         s.age_s),
        ("underdog_stream_heartbeat_running", "1 unless the last heartbeat was a clean stop",
         1.0 if s.running else 0.0),
        ("underdog_stream_heartbeat_lag_seconds", "Now minus the newest tick written, at the "
         "last heartbeat", s.lag_s),
        ("underdog_stream_heartbeat_msgs_per_second", "Frames per second at the last heartbeat",
         s.msgs_per_s),
    ):
        if value is not None:
            family = _gauge(name, doc)
            family.add_metric([], float(value))
            out.append(family)
    return out


def _replica(report: HealthReport) -> list[Metric]:
    """The read replica (UNDERDOG_READER_DATABASE_URL) against the primary's WAL position;
    nothing when reads go to the primary."""
    r = report.replica
    if not r.configured or r.lag is None or not r.lag.standby:
        return []
    lag = r.lag
    out = []
    for name, doc, value in (
        ("underdog_replica_replay_lag_bytes", "WAL the replica has not replayed, vs the "
         "primary's current LSN", lag.replay_bytes),
        ("underdog_replica_receive_lag_bytes", "WAL the replica has not received, vs the "
         "primary's current LSN", lag.receive_bytes),
        ("underdog_replica_lag_seconds", "0 when caught up; else since the replica's last "
         "replayed commit", None if lag.seconds == float("inf") else lag.seconds),
        ("underdog_replica_max_lag_seconds", "UNDERDOG_REPLICA_MAX_LAG_S: fresh reads refuse "
         "a replica further behind", r.max_lag_s),
        ("underdog_replica_replay_paused", "1 if WAL replay is paused on the replica",
         1.0 if lag.paused else 0.0),
    ):
        if value is not None:
            family = _gauge(name, doc)
            family.add_metric([], float(value))
            out.append(family)
    return out


def _problems(report: HealthReport) -> Metric:
    family = _gauge("underdog_health_problems", "What makes `underdog health` exit non-zero")
    family.add_metric([], len(report.problems()))
    return family


class StoreCollector(Collector):
    """Reads PostgreSQL and Redis on every scrape (a few index probes and catalog reads)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        began = time.perf_counter()
        up = _gauge("underdog_up", "1 if the component answered this scrape", ("component",))
        try:
            report = collect(self.settings)
        except (ConfigError, psycopg.Error) as exc:
            log.warning("scrape: database unavailable: %s", exc)
            up.add_metric(["database"], 0.0)
            yield up
            return
        up.add_metric(["database"], 1.0)
        up.add_metric(["redis"], 1.0 if report.redis.up else 0.0)
        if report.replica.configured:
            up.add_metric(["replica"], 1.0 if report.replica.up else 0.0)
        yield up
        yield from report_metrics(report)
        took = _gauge("underdog_exporter_scrape_seconds", "Time to read the stores")
        took.add_metric([], time.perf_counter() - began)
        yield took

    def describe(self) -> Iterator[Metric]:
        return iter(())  # families vary with the data: no checks at registration

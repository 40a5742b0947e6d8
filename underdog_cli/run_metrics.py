"""What Dagster runs did, read back from the instance's event log (runs are short-lived).

`RunMetricsCollector` is registered by `underdog metrics serve` beside the core's
`StoreCollector`. On each scrape it reads the materializations recorded since the previous
scrape (a storage-id cursor per asset) and adds them to counters: rows written and rejected,
durations (the `seconds` metadata, else the step's own time) per asset and source, once per
run and asset (a run over several partitions repeats its figures on each), and the
sentiment model's texts and seconds (throughput = the ratio of their rates). It also serves
the last materialization time and the failed runs of the last 24 h per asset, and the agent's
figures from the newest td3_policy / td3_evaluation metadata (`underdog.ops.metrics`).
A restarted exporter starts its counters at the last 24 h: Prometheus' rate() takes resets.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster import DagsterEventType
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from underdog.ops.health import AssetRuns
from underdog.ops.metrics import AGENT_LABELS, AGENT_METADATA_KEY, AGENT_METRICS
from underdog.redaction import redact

log = logging.getLogger(__name__)

DAY = timedelta(hours=24)
BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
ROWS_KEYS = ("rows_written", "documents_stored", "rows_in_window")
SOURCE_KEYS = ("source", "model", "sources_used")
AGENT_ASSETS = ("td3_policy", "td3_evaluation")
PAGE = 500


def _value(metadata: dict, key: str) -> object:
    item = metadata.get(key)
    return getattr(item, "value", item)


def _number(metadata: dict, *keys: str) -> float | None:
    for key in keys:
        value = _value(metadata, key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _source(metadata: dict) -> str:
    for key in SOURCE_KEYS:
        value = _value(metadata, key)
        if isinstance(value, list | tuple):
            value = "+".join(str(v) for v in value)
        if value:
            return str(value)
    return ""


def failed_assets(instance: dg.DagsterInstance, since: datetime) -> dict[str, AssetRuns]:
    """Per asset: runs that failed since `since` without materializing it, and the last error."""
    out: dict[str, AssetRuns] = {}
    runs = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE], updated_after=since))
    for record in sorted(runs, key=lambda r: r.update_timestamp):
        run_id = record.dagster_run.run_id
        events = instance.get_records_for_run(run_id, of_type={
            DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
            DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.STEP_FAILURE,
            DagsterEventType.RUN_FAILURE}).records
        planned, done, errors = set(), set(), []
        for event in events:
            entry = event.event_log_entry
            kind = entry.dagster_event_type
            if kind == DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
                planned.add(entry.dagster_event.asset_key.to_user_string())
            elif kind == DagsterEventType.ASSET_MATERIALIZATION:
                done.add(entry.dagster_event.asset_key.to_user_string())
            elif kind == DagsterEventType.STEP_FAILURE:
                error = entry.dagster_event.step_failure_data.error
                errors.append(error.message.strip() if error else entry.message)
            elif not errors:
                errors.append(entry.message or "")
        message = redact((errors[0] if errors else "run failed").splitlines()[0][:300])
        for asset in planned - done:
            runs_of = out.setdefault(asset, AssetRuns(asset))
            runs_of.failures_24h += 1
            runs_of.last_error = message
    return out


def asset_runs(instance: dg.DagsterInstance, assets: list[str],
               now: datetime | None = None) -> dict[str, AssetRuns]:
    """Last materialization and failed runs in the last 24 h of each asset (for health)."""
    now = now or datetime.now(UTC)
    out = {a: AssetRuns(a) for a in assets}
    latest = instance.get_latest_materialization_events([dg.AssetKey(a) for a in assets])
    for key, entry in latest.items():
        if entry is not None:
            out[key.to_user_string()].last_materialized = datetime.fromtimestamp(
                entry.timestamp, UTC)
    for asset, failed in failed_assets(instance, now - DAY).items():
        row = out.setdefault(asset, AssetRuns(asset))
        row.failures_24h, row.last_error = failed.failures_24h, failed.last_error
    return out


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        index = next((i for i, edge in enumerate(BUCKETS) if value <= edge), len(BUCKETS))
        self.counts[index] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        running, out = 0, []
        for edge, count in zip([*map(str, BUCKETS), "+Inf"], self.counts, strict=True):
            running += count
            out.append((edge, running))
        return out


class RunMetricsCollector(Collector):
    def __init__(self, instance: dg.DagsterInstance, *, lookback: timedelta = DAY) -> None:
        self.instance = instance
        self.start = (datetime.now(UTC) - lookback).timestamp()
        self._cursors: dict[dg.AssetKey, int] = {}
        self._rows: defaultdict[tuple[str, str], float] = defaultdict(float)
        self._rejected: defaultdict[tuple[str, str], float] = defaultdict(float)
        self._count: defaultdict[str, int] = defaultdict(int)
        self._durations: defaultdict[tuple[str, str], _Histogram] = defaultdict(_Histogram)
        self._scoring: defaultdict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
        self._step_starts: dict[str, dict[str, float]] = {}
        self._runs_seen: dict[tuple[str, str], None] = {}  # insertion-ordered, bounded
        self._lock = threading.Lock()

    # -- reading the event log

    def _step_start(self, run_id: str, step_key: str | None) -> float | None:
        if run_id not in self._step_starts:
            records = self.instance.get_records_for_run(
                run_id, of_type=DagsterEventType.STEP_START).records
            self._step_starts[run_id] = {r.event_log_entry.step_key: r.timestamp
                                         for r in records}
            if len(self._step_starts) > 1000:  # only recent runs are ever asked for again
                self._step_starts.pop(next(iter(self._step_starts)))
        return self._step_starts[run_id].get(step_key)

    def _record(self, asset: str, record) -> None:
        self._count[asset] += 1
        # A run over a range of partitions records one event per partition, each carrying the
        # run's figures: count them once per run.
        if (record.run_id, asset) in self._runs_seen:
            return
        self._runs_seen[(record.run_id, asset)] = None
        if len(self._runs_seen) > 10_000:
            self._runs_seen.pop(next(iter(self._runs_seen)))
        metadata = record.asset_materialization.metadata if record.asset_materialization else {}
        source = _source(metadata)
        rows = _number(metadata, *ROWS_KEYS)
        if rows is not None:
            self._rows[(asset, source)] += rows
        self._rejected[(asset, source)] += _number(metadata, "rows_rejected") or 0.0
        seconds = _number(metadata, "seconds")
        if seconds is None:
            began = self._step_start(record.run_id, record.event_log_entry.step_key)
            seconds = record.timestamp - began if began is not None else None
        if seconds is not None:
            self._durations[(asset, source)].observe(max(seconds, 0.0))
        texts = _number(metadata, "texts_run_through_model")
        if texts is not None and seconds is not None:
            totals = self._scoring[source]
            totals[0] += texts
            totals[1] += _number(metadata, "documents_scored") or 0.0
            totals[2] += seconds

    def advance(self, keys: list[dg.AssetKey]) -> None:
        """Count the materializations of `keys` recorded since the last call."""
        with self._lock:
            for key in keys:
                cursor = self._cursors.get(key)
                while True:
                    result = self.instance.fetch_materializations(
                        dg.AssetRecordsFilter(
                            asset_key=key, after_storage_id=cursor,
                            after_timestamp=None if cursor is not None else self.start),
                        limit=PAGE, ascending=True)
                    for record in result.records:
                        self._record(key.to_user_string(), record)
                        cursor = record.storage_id
                    if len(result.records) < PAGE:
                        break
                if cursor is not None:
                    self._cursors[key] = cursor

    # -- families

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("underdog_dagster_up", "1 if the Dagster instance answered")
        try:
            keys = list(self.instance.get_asset_keys())  # one listing for the whole scrape
            self.advance(keys)
            families = [*self._counters(), *self._latest(keys)]
        except Exception as exc:  # noqa: BLE001 - an unreachable instance is a metric, not a crash
            log.warning("scrape: Dagster instance unavailable: %s", redact(str(exc)))
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        yield from families

    def _counters(self) -> list[Metric]:
        labels = ["asset", "source"]
        rows = CounterMetricFamily("underdog_ingest_rows", "Rows written per asset and source "
                                   "(Dagster materializations)", labels=labels)
        rejected = CounterMetricFamily("underdog_ingest_rejected", "Rows rejected to "
                                       "dead_letters per asset and source", labels=labels)
        count = CounterMetricFamily("underdog_ingest_materializations",
                                    "Materializations per asset", labels=["asset"])
        durations = HistogramMetricFamily("underdog_ingest_duration_seconds",
                                          "Time to materialize, per asset and source",
                                          labels=labels)
        texts = CounterMetricFamily("underdog_sentiment_texts_scored", "Texts run through the "
                                    "sentiment model", labels=["model"])
        documents = CounterMetricFamily("underdog_sentiment_documents_scored",
                                        "Documents scored (model or score cache)",
                                        labels=["model"])
        seconds = CounterMetricFamily("underdog_sentiment_scoring_seconds",
                                      "Time spent scoring", labels=["model"])
        with self._lock:
            for (asset, source), value in sorted(self._rows.items()):
                rows.add_metric([asset, source], value)
            for (asset, source), value in sorted(self._rejected.items()):
                rejected.add_metric([asset, source], value)
            for asset, value in sorted(self._count.items()):
                count.add_metric([asset], value)
            for (asset, source), hist in sorted(self._durations.items()):
                durations.add_metric([asset, source], hist.buckets(), hist.total)
            for model, (t, d, s) in sorted(self._scoring.items()):
                texts.add_metric([model], t)
                documents.add_metric([model], d)
                seconds.add_metric([model], s)
        return [rows, rejected, count, durations, texts, documents, seconds]

    def _latest(self, keys: list[dg.AssetKey]) -> list[Metric]:
        now = datetime.now(UTC)
        runs = asset_runs(self.instance, [k.to_user_string() for k in keys], now)
        last = GaugeMetricFamily("underdog_asset_last_materialization_timestamp_seconds",
                                 "When each asset was last materialized", labels=["asset"])
        failed = GaugeMetricFamily("underdog_asset_failed_runs_24h", "Runs that failed without "
                                   "materializing the asset, last 24 h", labels=["asset"])
        for asset, row in sorted(runs.items()):
            if row.last_materialized is not None:
                last.add_metric([asset], row.last_materialized.timestamp())
            failed.add_metric([asset], row.failures_24h)
        return [last, failed, *self._agent()]

    def _agent(self) -> list[Metric]:
        families = {key: GaugeMetricFamily(name, doc, labels=list(AGENT_LABELS))
                    for key, (name, doc) in AGENT_METRICS.items()}
        seen: set[tuple[str, str, str]] = set()
        for asset in AGENT_ASSETS:
            result = self.instance.fetch_materializations(dg.AssetKey(asset), limit=50)
            for record in result.records:  # newest first: the first of each label set wins
                metadata = record.asset_materialization.metadata
                rows = _value(metadata, AGENT_METADATA_KEY)
                for row in rows if isinstance(rows, list) else [metadata]:
                    if not isinstance(row, dict):
                        continue
                    labels = [str(_value(row, k) or "") for k in AGENT_LABELS]
                    for name, family in families.items():
                        value = _number(row, name)
                        if value is not None and (name, *labels) not in seen:
                            seen.add((name, *labels))
                            family.add_metric(labels, value)
        return list(families.values())

    def describe(self) -> Iterator[Metric]:
        return iter(())

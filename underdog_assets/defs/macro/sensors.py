"""A new FRED release (a series' `last_updated`) requests a macro_indicators run for its day.

The cursor is JSON:
- `seen`: series -> the `last_updated` a successful run has written (the high-water mark);
- `pending`: series -> the release waiting for its run: `updated`, `partition`, `request`
  (the run key and tag of the run asked for, or null), `attempt`, `requested_at`.

Each tick: settle the pending releases by their runs (SUCCESS moves `updated` into `seen`;
FAILURE or CANCELED, or no run REQUEST_TIMEOUT_S after asking, asks again under a new key),
note new releases, and request one run per partition for releases whose partition exists.
So `seen` advances only after the run that wrote the release succeeded.

A release's partition is its day in FRED's own clock (the offset of `last_updated`, US
Central), the day its vintages' realtime_start names. DAILY has complete UTC days only, so a
release waits until its day has ended in UTC (and the 00:30 UTC schedule may well write it
first: the sensor's run then rewrites the same rows).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field

import dagster as dg

from underdog.ops.cadences import MACRO_DAILY
from underdog.sources.fred import FredError, FredUnavailable
from underdog_assets.defs.common.partitions import DAILY
from underdog_assets.defs.common.resources import MacroResource

RELEASE_TAG = "underdog/fred_release"
REQUEST_TIMEOUT_S = 3600  # a requested run that never appeared is asked for again
FAILED = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


@dataclass
class Pending:
    updated: str
    partition: str
    request: str | None = None
    attempt: int = 0
    requested_at: float | None = None


@dataclass
class ReleaseCursor:
    seen: dict[str, str] = field(default_factory=dict)
    pending: dict[str, Pending] = field(default_factory=dict)

    @classmethod
    def load(cls, text: str | None) -> ReleaseCursor:
        if not text:
            return cls()
        body = json.loads(text)
        return cls(dict(body.get("seen", {})),
                   {s: Pending(**p) for s, p in body.get("pending", {}).items()})

    def dump(self) -> str:
        return json.dumps({"seen": self.seen,
                           "pending": {s: asdict(p) for s, p in self.pending.items()}},
                          sort_keys=True)


@dg.sensor(
    name="fred_release_sensor", job_name=MACRO_DAILY.job, minimum_interval_seconds=900,
    description="Asks FRED for each series' last update every 15 minutes; a new release "
                "requests a macro_indicators run for its day (cursor advanced only after "
                "that run succeeds).",
)
def fred_release_sensor(context: dg.SensorEvaluationContext,
                        macro: MacroResource) -> dg.SensorResult | dg.SkipReason:
    source, label = macro.vintage_source()
    if source is None or label != "fred":
        return dg.SkipReason(f"macro source is {label}: no FRED releases to watch")
    cursor = ReleaseCursor.load(context.cursor)
    try:
        latest = {s: source.info(s).last_updated.isoformat() for s in macro.series}
    except (FredUnavailable, FredError) as exc:
        return dg.SkipReason(f"FRED series info unavailable: {exc}")
    now = time.time()
    _settle(context.instance, cursor, now)
    _note_releases(cursor, latest)
    requests = _requests(cursor, now)
    waiting = sorted(f"{s} ({p.partition})" for s, p in cursor.pending.items() if not p.request)
    skip = None if requests else (f"waiting for their day to end: {', '.join(waiting)}"
                                  if waiting else "no new release")
    return dg.SensorResult(run_requests=requests, cursor=cursor.dump(), skip_reason=skip)


def _settle(instance: dg.DagsterInstance, cursor: ReleaseCursor, now: float) -> None:
    for series, pending in list(cursor.pending.items()):
        if pending.request is None:
            continue
        runs = instance.get_runs(filters=dg.RunsFilter(tags={RELEASE_TAG: pending.request}))
        if any(r.status == dg.DagsterRunStatus.SUCCESS for r in runs):
            cursor.seen[series] = pending.updated
            del cursor.pending[series]
        elif (runs and all(r.status in FAILED for r in runs)) or (
            not runs and now - (pending.requested_at or now) > REQUEST_TIMEOUT_S
        ):
            pending.request, pending.attempt = None, pending.attempt + 1


def _note_releases(cursor: ReleaseCursor, latest: dict[str, str]) -> None:
    first = DAILY.get_first_partition_key()
    for series, updated in latest.items():
        pending = cursor.pending.get(series)
        if cursor.seen.get(series) == updated or (pending and pending.updated == updated):
            continue
        day = max(updated[:10], first)  # the release's own (FRED, US Central) day
        cursor.pending[series] = Pending(updated, day)


def _requests(cursor: ReleaseCursor, now: float) -> list[dg.RunRequest]:
    last = DAILY.get_last_partition_key()
    by_partition: dict[str, list[str]] = {}
    for series, pending in sorted(cursor.pending.items()):
        if pending.request is None and last is not None and pending.partition <= last:
            by_partition.setdefault(pending.partition, []).append(series)
    requests = []
    for partition, series in by_partition.items():
        releases = "+".join(f"{s}@{cursor.pending[s].updated}" for s in series)
        attempt = max(cursor.pending[s].attempt for s in series)
        digest = hashlib.sha256(releases.encode()).hexdigest()[:12]
        key = f"{partition}:{'+'.join(series)}:{digest}:{attempt}"
        for s in series:
            cursor.pending[s].request, cursor.pending[s].requested_at = key, now
        requests.append(dg.RunRequest(
            run_key=key, partition_key=partition, tags={RELEASE_TAG: key},
            asset_selection=[dg.AssetKey("macro_indicators")],
            run_config={"ops": {"macro_indicators": {"config": {"series": series}}}},
        ))
    return requests

"""How fresh each table must be: the one definition `health`, the exporter and Dagster share.

A feed is a table and what writes it (a Dagster job on a schedule, or the streamer). Its lag
is the age of the newest fact it holds, measured from when that fact became known (a bar at
its close, a score at its `available_at`), per key (symbol, FRED series, sentiment source);
market feeds count only the hours the FX market is open, so a weekend is not "stale".

Writers, crons and allowed lags come from `underdog.ops.cadences`, the same definitions the
Dagster schedules are built from. `UNDERDOG_FRESHNESS_MAX_LAG="ohlcv=10m,quotes=off"` tightens
(e.g. with the streamer running) or switches off a table; every consumer reads it the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache

import psycopg

from underdog.config import ConfigError, Settings
from underdog.ops.cadences import (
    FEATURES_DAILY,
    MACRO_DAILY,
    MARKET_DAILY,
    SENTIMENT_COLLECT,
    STREAMER,
    TD3_EVALUATION,
    Cadence,
)
from underdog.reference.schema import BAR
from underdog.sentiment.options import ALL_SOURCES
from underdog.store.offline.health import newest_per_key


@dataclass(frozen=True)
class Feed:
    table: str
    cadence: Cadence  # what writes it, when, and how old its newest fact may get
    known: str  # the column whose newest value says when the newest fact became known
    key: str | None = None  # newest per key: "symbol", "series_id" or "source"
    every_key: bool = True  # every key must be fresh; False: the freshest key counts
    market_hours: bool = False  # lag counts open-market time only
    required: bool = True  # an empty table is stale (else reported as "empty")
    shift: timedelta = timedelta(0)  # added to `known` (bars are known at their close)
    where: str = ""  # a filter on the rows that count (a constant SQL condition)
    asset: bool = True  # a Dagster asset of that name exists (checked by table_freshness)
    tracked: bool = True  # False: reported, never stale, whatever its writer's cadence

    @property
    def writer(self) -> str:
        return self.cadence.job

    @property
    def schedule(self) -> str:
        return self.cadence.cron

    @property
    def max_lag(self) -> timedelta | None:
        """None: no schedule to hold it to (reported, never stale)."""
        return self.cadence.max_lag if self.tracked else None


FEEDS: tuple[Feed, ...] = (
    Feed("ticks", MARKET_DAILY, "time", "symbol", market_hours=True),
    Feed("ohlcv", MARKET_DAILY, "time", "symbol", market_hours=True, shift=BAR),
    Feed("quotes", STREAMER, "time", "symbol", market_hours=True, required=False, asset=False),
    Feed("sentiment_scores", SENTIMENT_COLLECT, "available_at", "symbol", every_key=False),
    Feed("raw_documents", SENTIMENT_COLLECT, "fetched_at", "source", every_key=False,
         asset=False, tracked=False),
    # Monthly series are quiet for weeks: any series counts.
    Feed("macro_indicators", MACRO_DAILY, "available_at", "series_id", every_key=False),
    Feed("insider_transactions", MACRO_DAILY, "available_at", asset=False, tracked=False),
    Feed("regime_predictions", FEATURES_DAILY, "available_at", "symbol", market_hours=True),
    Feed("state_vectors", FEATURES_DAILY, "time", "symbol", market_hours=True,
         where="feature_version = 1"),
    *(Feed(t, TD3_EVALUATION, "time", asset=False)
      for t in ("trades", "positions", "metrics", "account_snapshots")),
)
FEEDS_BY_TABLE = {f.table: f for f in FEEDS}
# The checks of Dagster's `table_freshness` (underdog_assets/monitoring.py): scheduled assets.
CHECKED = tuple(f for f in FEEDS if f.asset and f.max_lag is not None)


# --------------------------------------------------------------------------- thresholds

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
OVERRIDE_VARIABLE = "UNDERDOG_FRESHNESS_MAX_LAG"


def parse_duration(text: str) -> timedelta:
    """'1d2h', '90m', '30s' as a timedelta."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or not match:
        raise ValueError(f"not a duration like 1d, 6h, 10m or 30s: {text!r}")
    d, h, m, s = (int(g or 0) for g in match.groups())
    return timedelta(days=d, hours=h, minutes=m, seconds=s)


def overrides(text: str) -> dict[str, timedelta | None]:
    """`table=duration|off,...` parsed; None means off. A ConfigError names the variable."""
    out: dict[str, timedelta | None] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        table, _, value = item.partition("=")
        table = table.strip()
        if table not in FEEDS_BY_TABLE:
            raise ConfigError(f"{OVERRIDE_VARIABLE}: unknown table {table!r} (known: "
                              f"{', '.join(FEEDS_BY_TABLE)})")
        try:
            out[table] = None if value.strip() == "off" else parse_duration(value)
        except ValueError as exc:
            raise ConfigError(f"{OVERRIDE_VARIABLE}: {table}: {exc}") from None
    return out


@dataclass(frozen=True)
class Threshold:
    max_lag: timedelta | None
    off: bool = False  # switched off by the override


def thresholds(settings: Settings) -> dict[str, Threshold]:
    """Each table's allowed lag, after the settings' overrides."""
    changed = overrides(settings.freshness_max_lag)
    out = {}
    for feed in FEEDS:
        if feed.table in changed:
            lag = changed[feed.table]
            out[feed.table] = Threshold(lag, off=lag is None)
        else:
            out[feed.table] = Threshold(feed.max_lag)
    return out


def keys(feed: Feed, settings: Settings) -> list[str]:
    if feed.key == "symbol":
        return list(settings.symbols)
    if feed.key == "series_id":
        return list(settings.macro.fred.series)
    if feed.key == "source":
        return list(ALL_SOURCES)
    return []


# --------------------------------------------------------------------------- lag

_WEEK = timedelta(days=7)


@lru_cache(maxsize=1)
def _weekend() -> tuple[timedelta, timedelta]:
    """Where the FX weekend starts and ends, from Monday 00:00 UTC (market_hours is the one
    definition; imported here, not at the top, because it brings pandas along)."""
    from underdog.market.hours import WEEKEND_END_MINUTE, WEEKEND_START_MINUTE

    return timedelta(minutes=WEEKEND_START_MINUTE), timedelta(minutes=WEEKEND_END_MINUTE)


def open_market_seconds(start: datetime, end: datetime) -> float:
    """Seconds in [start, end) during which the FX market is open (weekends left out)."""
    if end <= start:
        return 0.0
    monday = datetime.combine((start - timedelta(days=start.weekday())).date(), time(),
                              tzinfo=UTC)
    close, reopen = _weekend()
    closed = timedelta(0)
    week = monday
    while week < end:
        a, b = max(start, week + close), min(end, week + reopen)
        if b > a:
            closed += b - a
        week += _WEEK
    return (end - start - closed).total_seconds()


def lag_seconds(feed: Feed, newest: datetime | None, now: datetime) -> float | None:
    if newest is None:
        return None
    if feed.market_hours:
        return open_market_seconds(newest, now)
    return max((now - newest).total_seconds(), 0.0)


# --------------------------------------------------------------------------- evaluation


@dataclass
class KeyStatus:
    key: str  # "" for a table without keys
    newest: datetime | None  # when the newest fact became known
    lag_s: float | None
    rows_today: int


@dataclass
class FeedStatus:
    feed: Feed
    threshold: Threshold
    keys: list[KeyStatus] = field(default_factory=list)
    status: str = "ok"  # ok | stale | empty | untracked | off
    detail: str = ""

    @property
    def table(self) -> str:
        return self.feed.table

    @property
    def stale(self) -> bool:
        return self.status == "stale"

    @property
    def newest(self) -> datetime | None:
        return max((k.newest for k in self.keys if k.newest), default=None)

    @property
    def rows_today(self) -> int:
        return sum(k.rows_today for k in self.keys)

    @property
    def lag_s(self) -> float | None:
        """The lag the verdict is about: the worst key's (every_key) or the freshest key's."""
        lags = [k.lag_s for k in self.keys if k.lag_s is not None]
        if not lags:
            return None
        return max(lags) if self.feed.every_key else min(lags)


def evaluate(conn: psycopg.Connection, feed: Feed, settings: Settings, *,
             now: datetime | None = None,
             threshold: Threshold | None = None) -> FeedStatus:
    """The feed's newest fact per key, its lag at `now`, and the verdict."""
    now = now or datetime.now(UTC)
    threshold = threshold or thresholds(settings)[feed.table]
    today = datetime.combine(now.astimezone(UTC).date(), time(), tzinfo=UTC)
    out = FeedStatus(feed, threshold)
    found = newest_per_key(conn, feed.table, feed.known, feed.key, keys(feed, settings), today,
                           feed.where)
    for key, newest, rows in found:
        known = newest + feed.shift if newest is not None else None
        out.keys.append(KeyStatus(key, known, lag_seconds(feed, known, now), int(rows)))
    out.status, out.detail = _verdict(out)
    return out


def _verdict(s: FeedStatus) -> tuple[str, str]:
    if s.threshold.off:
        return "off", f"switched off by {OVERRIDE_VARIABLE}"
    empty = [k.key for k in s.keys if k.newest is None]
    if len(empty) == len(s.keys):
        if s.threshold.max_lag is None or not s.feed.required:
            return "empty", "no rows"
        return "stale", "no rows"
    if s.threshold.max_lag is None:
        return "untracked", "no schedule to hold it to"
    allowed = s.threshold.max_lag.total_seconds()
    if s.feed.every_key and empty:
        return "stale", f"no rows for {', '.join(empty)}"
    late = [k for k in s.keys if k.lag_s is not None and k.lag_s > allowed]
    if s.feed.every_key and late:
        worst = max(late, key=lambda k: k.lag_s or 0.0)
        return "stale", f"{worst.key or s.table} {format_duration(worst.lag_s)} behind"
    if not s.feed.every_key and (s.lag_s or 0.0) > allowed:
        return "stale", f"newest {format_duration(s.lag_s)} behind"
    return "ok", ""


def evaluate_all(conn: psycopg.Connection, settings: Settings, *,
                 now: datetime | None = None) -> list[FeedStatus]:
    now = now or datetime.now(UTC)
    limits = thresholds(settings)
    return [evaluate(conn, f, settings, now=now, threshold=limits[f.table]) for f in FEEDS]


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"

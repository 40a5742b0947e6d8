"""When each writer runs and how old its newest fact may get: stated once.

The Dagster schedules (`underdog_assets/defs/*/schedules.py`, `defs/common/jobs.py`) take
their job names and crons from here, and `underdog.ops.freshness` its feeds' writers and
allowed lags, so a schedule that moves moves its freshness bound with it
(tests/assets/test_schedules.py ties the code location's schedules to these).

A daily job writes yesterday's UTC partition at HH:MM UTC, so just before its next run the
newest fact it wrote is a day plus that offset old; `DAILY_GRACE` covers the run itself.
The daily offsets are staggered: market 00:15, macro 00:30 (after the US close: 19:30 EST /
20:30 EDT), features 00:45 (reads both).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

DAILY_GRACE = timedelta(hours=2)  # a daily run's own duration, retries included
CONTINUOUS = "continuous"  # a process, not a schedule (the streamer)
ON_DEMAND = "on demand"  # written when someone runs it


@dataclass(frozen=True)
class Cadence:
    job: str  # the Dagster job (or the process) that writes
    cron: str  # UTC; CONTINUOUS or ON_DEMAND for writers without a schedule
    max_lag: timedelta | None  # how old its newest fact may get; None: nothing to hold it to

    @property
    def daily_at(self) -> tuple[int, int]:
        """(hour, minute) UTC of a daily cron "M H * * *"."""
        minute, hour, *rest = self.cron.split()
        if rest != ["*", "*", "*"] or not (minute.isdigit() and hour.isdigit()):
            raise ValueError(f"{self.job}: {self.cron!r} is not a daily cron")
        return int(hour), int(minute)


def _daily(job: str, hour: int, minute: int, max_lag: timedelta | None = None) -> Cadence:
    """A daily job over yesterday's partition; by default it may lag a day + the offset."""
    lag = timedelta(days=1, hours=hour, minutes=minute) + DAILY_GRACE
    return Cadence(job, f"{minute} {hour} * * *", lag if max_lag is None else max_lag)


MARKET_DAILY = _daily("market_daily", 0, 15)
# FRED publishes on business days; a vintage is known at the next New York midnight. Four
# days cover a weekend plus a holiday Monday.
MACRO_DAILY = _daily("macro_daily", 0, 30, max_lag=timedelta(days=4))
FEATURES_DAILY = _daily("features_daily", 0, 45)
# News flows around the clock but unevenly: a quiet symbol is fine, a silent feed is not.
SENTIMENT_COLLECT = Cadence("sentiment_collect", "*/15 * * * *", timedelta(hours=6))
# Sunday 02:00 UTC, while the FX market is shut; its tables are written on demand too.
AGENT_TRAIN = Cadence("agent_train", "0 2 * * 0", None)
# The freshness of every table, as Dagster sees it (code location underdog_monitoring).
FRESHNESS_CHECKS = Cadence("freshness_checks", "*/15 * * * *", None)
STREAMER = Cadence("underdog-streamer", CONTINUOUS, timedelta(minutes=5))
TD3_EVALUATION = Cadence("td3_evaluation", ON_DEMAND, None)

# The Dagster jobs that run on a schedule, per code location: each has exactly one, with
# this cron. `underdog` (underdog_assets.definitions), `underdog_monitoring`
# (underdog_assets.monitoring).
SCHEDULED = (MARKET_DAILY, MACRO_DAILY, FEATURES_DAILY, SENTIMENT_COLLECT, AGENT_TRAIN)
MONITORING = (FRESHNESS_CHECKS,)
BY_JOB = {c.job: c for c in (*SCHEDULED, *MONITORING)}

"""Every schedule of the code locations runs its job at the cadence `underdog.ops.cadences`
states, and every scheduled cadence has its schedule: freshness bounds and schedules agree."""

from __future__ import annotations

import pytest

from underdog.ops.cadences import BY_JOB, MONITORING, SCHEDULED, Cadence
from underdog.ops.freshness import FEEDS
from underdog_assets import monitoring
from underdog_assets.definitions import defs

LOCATIONS = {"underdog": (defs, SCHEDULED), "underdog_monitoring": (monitoring.defs, MONITORING)}


def _schedules(location: str) -> list:
    load, _ = LOCATIONS[location]
    return list(load().get_repository_def().schedule_defs)


@pytest.mark.parametrize("location", sorted(LOCATIONS))
def test_every_schedule_equals_its_cadence(dagster_env: None, location: str) -> None:
    schedules = _schedules(location)
    assert schedules
    for schedule in schedules:
        cadence = BY_JOB.get(schedule.job_name)
        assert cadence is not None, f"{schedule.name}: {schedule.job_name} has no cadence"
        assert (schedule.cron_schedule, schedule.execution_timezone) == (cadence.cron, "UTC"), \
            schedule.name


@pytest.mark.parametrize("location", sorted(LOCATIONS))
def test_every_scheduled_cadence_has_one_schedule(dagster_env: None, location: str) -> None:
    _, cadences = LOCATIONS[location]
    jobs = [s.job_name for s in _schedules(location)]
    assert sorted(jobs) == sorted(c.job for c in cadences)


def test_freshness_feeds_written_by_a_dagster_job_follow_its_schedule(dagster_env: None) -> None:
    repository = defs().get_repository_def()
    for feed in FEEDS:
        if feed.writer in BY_JOB:
            assert repository.has_job(feed.writer), feed.table
            [schedule] = [s for s in repository.schedule_defs if s.job_name == feed.writer]
            assert schedule.cron_schedule == feed.schedule, feed.table


def test_a_daily_cadence_reads_its_hour_and_minute() -> None:
    assert Cadence("x", "45 0 * * *", None).daily_at == (0, 45)
    with pytest.raises(ValueError, match="not a daily cron"):
        _ = Cadence("x", "*/15 * * * *", None).daily_at

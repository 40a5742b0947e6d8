"""Every schedule of the code location runs its job at the cadence `underdog.ops.cadences`
states, and every scheduled cadence has its schedule: freshness bounds and schedules agree."""

from __future__ import annotations

from underdog.ops.cadences import BY_JOB
from underdog.ops.freshness import FEEDS
from underdog_assets.definitions import defs


def _schedules() -> list:
    return list(defs().get_repository_def().schedule_defs)


def test_every_schedule_equals_its_cadence(dagster_env: None) -> None:
    schedules = _schedules()
    assert schedules
    for schedule in schedules:
        cadence = BY_JOB.get(schedule.job_name)
        assert cadence is not None, f"{schedule.name}: {schedule.job_name} has no cadence"
        assert (schedule.cron_schedule, schedule.execution_timezone) == (cadence.cron, "UTC"), \
            schedule.name


def test_every_scheduled_cadence_has_one_schedule(dagster_env: None) -> None:
    jobs = [s.job_name for s in _schedules()]
    assert sorted(jobs) == sorted(BY_JOB)


def test_freshness_feeds_written_by_a_dagster_job_follow_its_schedule(dagster_env: None) -> None:
    repository = defs().get_repository_def()
    for feed in FEEDS:
        if feed.writer in BY_JOB:
            assert repository.has_job(feed.writer), feed.table
            [schedule] = [s for s in repository.schedule_defs if s.job_name == feed.writer]
            assert schedule.cron_schedule == feed.schedule, feed.table

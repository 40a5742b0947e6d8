"""The macro group end to end: macro_indicators (fixture and FRED) and insider_transactions
into PostgreSQL and Redis, the EOD schedule, and the FRED release sensor's cursor."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import pytest

from tests.conftest import REDIS_URL
from tests.helpers import table_checksum
from tests.macro.edgar_data import edgar_server
from tests.macro.servers import EDGAR_UA, FRED_KEY, FRED_PREFIX, FredServer, Stub, fred_error, serve
from underdog.sources.fred import FIXTURE
from underdog.store.db import Database
from underdog.store.online.cache import LatestCache
from underdog_assets.definitions import defs

FIXTURE_SERIES = json.loads(FIXTURE.read_text())["series"]
UNSET = ("FRED_API_KEY", "FRED_BASE_URL", "FRED_SERIES", "MACRO_SOURCE", "SEC_USER_AGENT",
         "EDGAR_CIKS", "ALPHAVANTAGE_API_KEY")


@pytest.fixture
def macro_env(dagster_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """No keys, no issuers: the offline defaults."""
    for name in UNSET:
        monkeypatch.delenv(f"UNDERDOG_{name}", raising=False)


@pytest.fixture
def fred(macro_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Stub, FredServer]]:
    server = FredServer(copy.deepcopy(FIXTURE_SERIES))
    with serve(server.route) as stub:
        monkeypatch.setenv("UNDERDOG_FRED_API_KEY", FRED_KEY)
        monkeypatch.setenv("UNDERDOG_FRED_BASE_URL", stub.base_url + FRED_PREFIX)
        monkeypatch.setenv("UNDERDOG_FRED_SERIES", "VIXCLS,DFF")
        yield stub, server


def run(first: str, last: str | None = None, *, assets: tuple[str, ...] = ("macro_indicators",),
        instance: dg.DagsterInstance | None = None, **kwargs: object
        ) -> dg.ExecuteInProcessResult:
    job = defs().resolve_job_def("macro_daily")
    if last is not None:
        kwargs["tags"] = {"dagster/asset_partition_range_start": first,
                          "dagster/asset_partition_range_end": last}
    else:
        kwargs["partition_key"] = first
    return job.execute_in_process(
        asset_selection=[dg.AssetKey(a) for a in assets], raise_on_error=False,
        instance=instance or dg.DagsterInstance.ephemeral(), **kwargs)


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, object]:
    events = [e for e in result.get_asset_materialization_events()
              if e.asset_key == dg.AssetKey(asset)]  # one per partition of the run
    assert events, f"{asset} was not materialized"
    return {k: v.value for k, v in events[0].materialization.metadata.items()}


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def published_before(day: str) -> int:
    """Vintages of the fixture published before `day` (their realtime_start)."""
    return sum(o["realtime_start"] < day for s in FIXTURE_SERIES.values()
               for o in s["observations"])


def test_offline_the_fixture_fills_the_state_vector_series(
    macro_env: None, db: Database, redis_prefix: str
) -> None:
    result = run("2024-01-01", "2024-03-12")
    assert result.success
    assert checks(result) == {"series_fresh": True, "vintages_ordered": True}
    meta = metadata(result, "macro_indicators")
    assert meta["source"] == "fixture" and meta["skipped"] is False
    assert meta["not_in_source"] == ["DGS10", "DGS2", "CPIAUCSL", "UNRATE"]
    assert meta["published_from"] == "the beginning"
    assert meta["rows_written"] == published_before("2024-03-13")
    assert "13.86" in meta["known_at_window_end"]  # VIX Mar 8 first print, known Mar 12
    before = table_checksum(db, "macro_indicators")
    assert before[0] == meta["rows_written"]
    cache = LatestCache.from_url(REDIS_URL, prefix=redis_prefix)
    latest = cache.get("macro", "VIXCLS")
    assert latest["time"] == datetime(2024, 3, 11, tzinfo=UTC) and latest["value"] == 14.06
    assert cache.client.ttl(cache.key("macro", "T10Y2Y")) > 3500
    assert run("2024-01-01", "2024-03-12").success
    assert table_checksum(db, "macro_indicators") == before  # rerun: the same rows


def test_fred_through_the_local_server_for_one_day(fred: tuple[Stub, FredServer],
                                                  db: Database) -> None:
    result = run("2024-03-12")
    assert result.success, result
    meta = metadata(result, "macro_indicators")
    assert meta["source"] == "fred" and meta["published_from"] == "2024-03-12"
    assert meta["rows_written"] == 3 + 1 and meta["revisions"] == 1  # VIX: 3 rows, DFF: 1
    assert checks(result) == {"series_fresh": True, "vintages_ordered": True}
    stub, _ = fred
    assert {r.query["series_id"] for r in stub.requests} == {"VIXCLS", "DFF"}


def test_a_series_fred_refuses_fails_the_run_after_writing_the_others(
    fred: tuple[Stub, FredServer], db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNDERDOG_FRED_SERIES", "VIXCLS,NOSUCH")
    result = run("2024-03-12")
    assert not result.success
    assert table_checksum(db, "macro_indicators")[0] == 3


def test_without_a_key_fred_is_skipped_and_the_asset_still_succeeds(
    macro_env: None, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNDERDOG_MACRO_SOURCE", "fred")
    result = run("2024-03-12")
    assert result.success
    meta = metadata(result, "macro_indicators")
    assert meta["skipped"] is True and "UNDERDOG_FRED_API_KEY is not set" in meta["source"]
    assert meta["rows_written"] == 0
    assert checks(result) == {"series_fresh": False, "vintages_ordered": True}  # WARN


def test_insider_transactions_from_edgar(macro_env: None, db: Database,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(edgar_server().route) as stub:
        monkeypatch.setenv("UNDERDOG_SEC_USER_AGENT", EDGAR_UA)
        monkeypatch.setenv("UNDERDOG_EDGAR_CIKS", "AAPL")
        monkeypatch.setenv("UNDERDOG_EDGAR_BASE_URL", stub.base_url)
        monkeypatch.setenv("UNDERDOG_EDGAR_ARCHIVES_URL", stub.base_url)
        result = run("2024-03-05", assets=("insider_transactions",))
    assert result.success
    meta = metadata(result, "insider_transactions")
    assert meta["edgar"] == "1 filings from 1 issuers" and meta["rows_written"] == 3
    assert meta["alphavantage"].startswith("skipped: UNDERDOG_ALPHAVANTAGE_API_KEY")
    assert table_checksum(db, "insider_transactions")[0] == 3


def test_insider_without_a_user_agent_is_skipped(macro_env: None, db: Database,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNDERDOG_EDGAR_CIKS", "320193")
    result = run("2024-03-05", assets=("insider_transactions",))
    assert result.success
    meta = metadata(result, "insider_transactions")
    assert meta["edgar"].startswith("skipped: UNDERDOG_SEC_USER_AGENT must name you")
    assert meta["rows_written"] == 0


def test_the_job_schedule_and_sensor(macro_env: None) -> None:
    definitions = defs()
    schedule = definitions.resolve_schedule_def("macro_eod_schedule")
    assert schedule.cron_schedule == "30 0 * * *" and schedule.job_name == "macro_daily"
    sensor = definitions.resolve_sensor_def("fred_release_sensor")
    assert sensor.job_name == "macro_daily" and sensor.minimum_interval_seconds == 900
    node = definitions.resolve_asset_graph().get(dg.AssetKey("macro_indicators"))
    assert node.group_name == "macro" and node.partitions_def is not None


# ---------------------------------------------------------------- the release sensor


def tick(definitions: dg.Definitions, instance: dg.DagsterInstance,
         cursor: str | None) -> dg.SensorResult:
    sensor = definitions.resolve_sensor_def("fred_release_sensor")
    context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      resources={"macro": definitions.resources["macro"]})
    return sensor(context)


def execute(request: dg.RunRequest, instance: dg.DagsterInstance) -> bool:
    job = defs().resolve_job_def("macro_daily")
    return job.execute_in_process(
        partition_key=request.partition_key, run_config=request.run_config, tags=request.tags,
        asset_selection=request.asset_selection, instance=instance, raise_on_error=False,
    ).success


def test_the_cursor_advances_only_after_the_release_run_succeeds(
    fred: tuple[Stub, FredServer], db: Database
) -> None:
    stub, server = fred
    instance, definitions = dg.DagsterInstance.ephemeral(), defs()
    first = tick(definitions, instance, None)
    [request] = first.run_requests
    assert request.partition_key == "2024-03-15"  # both last updated on Mar 15 (FRED's clock)
    assert request.run_config["ops"]["macro_indicators"]["config"]["series"] == ["DFF",
                                                                                  "VIXCLS"]
    assert json.loads(first.cursor)["seen"] == {}

    waiting = tick(definitions, instance, first.cursor)
    assert waiting.run_requests == [] and json.loads(waiting.cursor)["seen"] == {}

    stub.queue(f"{FRED_PREFIX}/series/observations", fred_error(400, "Bad Request."))
    assert not execute(request, instance)
    retry = tick(definitions, instance, waiting.cursor)
    [again] = retry.run_requests
    assert again.run_key != request.run_key and json.loads(retry.cursor)["seen"] == {}

    assert execute(again, instance)
    done = tick(definitions, instance, retry.cursor)
    assert done.run_requests == []
    state = json.loads(done.cursor)
    assert state["pending"] == {}
    assert state["seen"] == {"DFF": "2024-03-15T15:16:02-05:00",
                             "VIXCLS": "2024-03-15T08:36:04-05:00"}
    assert table_checksum(db, "macro_indicators")[0] > 0

    server.series["DFF"]["info"]["last_updated"] = "2024-03-18 15:16:02-05"
    newer = tick(definitions, instance, done.cursor)
    [dff] = newer.run_requests
    assert dff.partition_key == "2024-03-18"
    assert dff.run_config["ops"]["macro_indicators"]["config"]["series"] == ["DFF"]


def test_a_release_waits_for_its_day_to_end(fred: tuple[Stub, FredServer]) -> None:
    _, server = fred
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    for body in server.series.values():
        body["info"]["last_updated"] = f"{today} 23:59:00+00"
    result = tick(defs(), dg.DagsterInstance.ephemeral(), None)
    assert result.run_requests == []
    assert "waiting for their day to end" in result.skip_reason.skip_message


def test_the_sensor_skips_without_fred(macro_env: None) -> None:
    result = tick(defs(), dg.DagsterInstance.ephemeral(), None)
    assert isinstance(result, dg.SkipReason) and "fixture" in result.skip_message


def test_the_sensor_skips_while_fred_refuses(fred: tuple[Stub, FredServer],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNDERDOG_FRED_API_KEY", "not-the-key")
    result = tick(defs(), dg.DagsterInstance.ephemeral(), "{}")
    assert isinstance(result, dg.SkipReason)
    assert "FRED series info unavailable" in result.skip_message
    assert "not-the-key" not in result.skip_message

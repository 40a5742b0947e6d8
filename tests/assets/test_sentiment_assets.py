"""The sentiment assets end to end in Dagster: the bundled fixture into raw_documents,
scores into PostgreSQL and Redis, the hourly summary, checks, reruns, the 15-minute schedule."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
import redis

from tests.conftest import REDIS_URL
from tests.helpers import table_checksum
from tests.sentiment.tiny_model import build
from underdog.store.db import Database
from underdog_assets.definitions import defs

SENTIMENT_ASSETS = {"raw_news", "raw_posts", "sentiment_scores", "hourly_sentiment_summary"}
TABLES = ["raw_documents", "sentiment_scores", "hourly_sentiment_summary"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("finbert-tiny"))


@pytest.fixture
def sentiment_env(dagster_env: None, model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No API credentials: "auto" uses the fixture; the model is the small local one."""
    for name in ("NEWSAPI_API_KEY", "GNEWS_API_KEY", "ALPHAVANTAGE_API_KEY",
                 "REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET"):
        monkeypatch.setenv(f"UNDERDOG_{name}", "")
    monkeypatch.setenv("UNDERDOG_SENTIMENT_SOURCES", "auto")
    monkeypatch.setenv("UNDERDOG_SYMBOLS", "EURUSD,GBPUSD")
    monkeypatch.setenv("UNDERDOG_FINBERT_MODEL", str(model_dir))


def _materialize(day: str) -> dg.ExecuteInProcessResult:
    job = defs().resolve_job_def("sentiment_collect")
    return job.execute_in_process(partition_key=day, instance=dg.DagsterInstance.ephemeral())


def _metadata(result: dg.ExecuteInProcessResult, key: str) -> dict:
    [event] = [m for m in result.get_asset_materialization_events()
               if m.asset_key == dg.AssetKey(key)]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_the_assets_are_defined_with_their_lineage(sentiment_env: None) -> None:
    graph = defs().resolve_asset_graph()
    for key in SENTIMENT_ASSETS:
        node = graph.get(dg.AssetKey(key))
        assert node.group_name == "sentiment" and node.description and node.owners
    assert graph.get(dg.AssetKey("sentiment_scores")).parent_keys == {
        dg.AssetKey("raw_news"), dg.AssetKey("raw_posts")}
    assert dg.AssetKey("sentiment_scores") in graph.get(dg.AssetKey("state_vectors")).parent_keys


def test_a_day_end_to_end_then_a_rerun_adds_nothing(sentiment_env: None, db: Database,
                                                     redis_prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    stale = list(client.scan_iter(match=f"{redis_prefix}:v1:sentiment:*"))  # earlier tests'
    if stale:
        client.delete(*stale)
    result = _materialize("2024-03-08")
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"sentiment_in_range": True, "unscored_share": True, "scores_fresh": True}
    news, scores = _metadata(result, "raw_news"), _metadata(result, "sentiment_scores")
    assert news["sources_used"] == ["fixture"] and news["documents_stored"] > 20
    assert "UNDERDOG_NEWSAPI_API_KEY" in news["sources_skipped"]["newsapi"]
    assert _metadata(result, "raw_posts")["documents_stored"] > 5
    assert scores["model"].startswith("finbert-tiny") and scores["fallback"] == "no"
    assert scores["rows_written"] > 30 and scores["redis_keys_updated"] == 2
    assert _metadata(result, "hourly_sentiment_summary")["rows_in_window"] > 10
    latest = client.hgetall(f"{redis_prefix}:v1:sentiment:EURUSD:fixture")
    assert latest["model"].strip('"') == scores["model"]
    assert 0 < client.ttl(f"{redis_prefix}:v1:sentiment:EURUSD:fixture") <= 3600

    before = [table_checksum(db, t) for t in TABLES]
    again = _materialize("2024-03-08")
    assert again.success and _metadata(again, "sentiment_scores")["rows_written"] == 0
    assert _metadata(again, "raw_news")["documents_stored"] == 0
    assert [table_checksum(db, t) for t in TABLES] == before


def test_without_the_model_the_lexicon_scores_and_says_so(
        sentiment_env: None, db: Database, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNDERDOG_FINBERT_MODEL", str(tmp_path / "not-downloaded"))
    result = _materialize("2024-03-09")
    assert result.success
    scores = _metadata(result, "sentiment_scores")
    assert scores["model"] == "lexicon-lm-v1" and "no such folder" in scores["fallback"]
    with db.connection() as conn:
        models = conn.execute("SELECT DISTINCT model FROM underdog.sentiment_scores").fetchall()
    assert models == [("lexicon-lm-v1",)]


def test_the_schedule_runs_the_current_day_every_15_minutes(sentiment_env: None) -> None:
    definitions = defs()
    schedule = definitions.resolve_schedule_def("sentiment_every_15_minutes")
    assert schedule.cron_schedule == "*/15 * * * *"
    tick = datetime.now(UTC).replace(minute=45, second=0, microsecond=0)
    context = dg.build_schedule_context(scheduled_execution_time=tick,
                                        repository_def=definitions.get_repository_def())
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == f"{tick:%Y-%m-%d}"  # today's, still open
    assert request.run_key == f"{tick:%Y-%m-%d}@{tick:%Y-%m-%dT%H:%M}"

"""The pipeline on the real PostgreSQL and Redis: documents stored once, scored once, with
honest available_at; reruns add nothing; lexicon scores give way to the model's."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REDIS_URL
from tests.helpers import empty_reads, table_checksum
from tests.sources.json_server import Answer, Api, serve_api
from underdog.sentiment.audits import audit
from underdog.sentiment.options import SentimentOptions
from underdog.sentiment.pipeline import (
    collect,
    known_at,
    publish_latest,
    score_window,
    store_documents,
)
from underdog.sentiment.scoring.lexicon import LexiconScorer
from underdog.sentiment.scoring.loading import LoadedScorer, load_scorer
from underdog.sources.documents import Document
from underdog.store.db import Database
from underdog.store.offline.readers import latest
from underdog.store.online.cache import LatestCache

FRIDAY, SATURDAY = datetime(2024, 3, 8, tzinfo=UTC), datetime(2024, 3, 9, tzinfo=UTC)
NOW = datetime(2024, 6, 1, tzinfo=UTC)  # long after: a backfill
DELAY = timedelta(minutes=15)


@pytest.fixture
def options(model_dir: Path) -> SentimentOptions:
    return SentimentOptions(symbols=("EURUSD", "GBPUSD"), sources=("fixture",),
                            poll_delay_s=900, finbert_model=str(model_dir), tries=2,
                            backoff_s=0.01, min_interval_s=0.0)


@pytest.fixture
def model(options: SentimentOptions) -> LoadedScorer:
    return load_scorer(options.finbert_model)


def doc(item_id: str, title: str, *, source: str = "newsapi", minute: int = 0) -> Document:
    return Document(source, item_id, title, "", FRIDAY + timedelta(hours=9, minutes=minute))


def scores(db: Database) -> pd.DataFrame:
    with db.connection() as conn:
        cur = conn.execute("SELECT * FROM underdog.sentiment_scores ORDER BY source, item_id,"
                           " symbol")
        return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


def test_documents_are_stored_once_by_id_and_by_content(db: Database,
                                                        options: SentimentOptions) -> None:
    batch = [doc("a", "Euro rallies after ECB"), doc("a", "Euro rallies after ECB (edited)"),
             doc("b", "EURO rallies   after ECB"),  # a repost: same normalized text
             doc("c", "Cable slides as gilts rally"),
             doc("a", "Euro rallies after ECB", source="gnews")]  # another source keeps it
    stored = store_documents(db, batch, options.tagger(), fetched_at=NOW)
    assert [(d.source, d.item_id) for d in stored] == [("newsapi", "a"), ("newsapi", "c"),
                                                       ("gnews", "a")]
    assert store_documents(db, batch + [doc("d", "euro rallies after ecb")], options.tagger(),
                           fetched_at=NOW) == []
    with db.connection() as conn:
        tags = dict(conn.execute("SELECT item_id, symbols FROM underdog.raw_documents"
                                 " WHERE source = 'newsapi'").fetchall())
    assert tags == {"a": ["EURUSD"], "c": ["GBPUSD"]}


def test_a_backfilled_day_is_scored_once_and_known_after_the_poll_delay(
        db: Database, options: SentimentOptions, model: LoadedScorer) -> None:
    run = collect(db, "fixture", FRIDAY, SATURDAY, options, now=NOW)
    assert (run.skipped, run.since, run.duplicates) == (None, FRIDAY, 1)  # one repost
    assert run.stored == run.fetched - 1 > 30
    scored = score_window(db, model, FRIDAY, SATURDAY, options=options)
    rows = scores(db)
    assert scored.result.written == len(rows) > run.stored * 0.8
    assert set(rows["symbol"]) == {"EURUSD", "GBPUSD"} and set(rows["source"]) == {"fixture"}
    assert (rows["available_at"] == rows["time"] + DELAY).all()
    assert rows["sentiment"].between(-1, 1).all() and rows["confidence"].between(0, 1).all()
    assert set(rows["model"]) == {model.scorer.model_id}
    assert scored.scored_texts == scored.documents  # every text new: all through the model
    before = table_checksum(db, "sentiment_scores")
    assert collect(db, "fixture", FRIDAY, SATURDAY, options, now=NOW).stored == 0
    again = score_window(db, model, FRIDAY, SATURDAY, options=options)
    assert (again.documents, again.rows.empty) == (0, True)
    assert table_checksum(db, "sentiment_scores") == before
    found = audit(db, FRIDAY, SATURDAY, options.symbols)
    assert (found.rows, found.out_of_range, found.unscored) == (len(rows), 0, 0)


def test_a_live_item_is_known_when_fetched_and_scored() -> None:
    published = FRIDAY + timedelta(hours=9)
    assert known_at(published, published + timedelta(minutes=2), DELAY) == (
        published + timedelta(minutes=3))
    assert known_at(published, published + timedelta(days=30), DELAY) == published + DELAY
    assert known_at(published, published - timedelta(minutes=5), DELAY) == published
    # Scored and written 10 s after the fetch: known then, never stamped after its write.
    written = published + timedelta(minutes=2, seconds=10)
    assert known_at(published, published + timedelta(minutes=2), DELAY, written) == written


def test_lexicon_scores_are_replaced_by_the_model_never_the_reverse(
        db: Database, options: SentimentOptions, model: LoadedScorer) -> None:
    lexicon = LoadedScorer(LexiconScorer(), "no model in this test")
    store_documents(db, [doc("a", "Euro rallies after ECB"), doc("b", "Cable slides")],
                    options.tagger(), fetched_at=NOW)
    assert len(score_window(db, lexicon, FRIDAY, SATURDAY, options=options).rows) == 2
    assert set(scores(db)["model"]) == {"lexicon-lm-v1"}
    upgraded = score_window(db, model, FRIDAY, SATURDAY, options=options)
    assert (upgraded.documents, upgraded.replaced) == (2, 2)
    assert set(scores(db)["model"]) == {model.scorer.model_id} and len(scores(db)) == 2
    assert score_window(db, lexicon, FRIDAY, SATURDAY, options=options).documents == 0


def test_a_text_already_scored_under_another_source_is_not_scored_again(
        db: Database, options: SentimentOptions, model: LoadedScorer) -> None:
    store_documents(db, [doc("a", "Sterling hits a seven-month high")], options.tagger(),
                    fetched_at=NOW)
    score_window(db, model, FRIDAY, SATURDAY, options=options)
    store_documents(db, [doc("x9", "Sterling hits a seven-month high", source="gnews")],
                    options.tagger(), fetched_at=NOW)
    run = score_window(db, model, FRIDAY, SATURDAY, options=options)
    assert (run.documents, run.scored_texts, run.cache_hits) == (1, 0, 1)
    first, second = scores(db).sort_values("source", ascending=False).itertuples()
    assert (first.sentiment, first.label) == (second.sentiment, second.label)


def test_the_newest_score_per_symbol_and_source_goes_to_redis(
        db: Database, options: SentimentOptions, model: LoadedScorer,
        redis_prefix: str) -> None:
    store_documents(db, [doc("a", "Euro rallies", minute=1), doc("b", "Euro slumps", minute=5),
                         doc("c", "Sterling firm", minute=3)], options.tagger(), fetched_at=NOW)
    run = score_window(db, model, FRIDAY, SATURDAY, options=options)
    cache = LatestCache.from_url(REDIS_URL, prefix=redis_prefix)
    assert publish_latest(cache, run.rows) == 2
    latest = cache.get("sentiment", "EURUSD", source="newsapi")
    assert latest["item_id"] == "b" and latest["model"] == model.scorer.model_id
    assert latest["time"] == FRIDAY + timedelta(hours=9, minutes=5)
    ttl = cache.client.ttl(cache.key("sentiment", "EURUSD", "newsapi"))
    assert 3500 < ttl <= 3600
    assert publish_latest(cache, run.rows) == 0  # nothing newer


def test_rescored_keys_are_replaced_in_redis_never_emptied(
        db: Database, options: SentimentOptions, model: LoadedScorer,
        redis_prefix: str) -> None:
    store_documents(db, [doc("a", "Euro rallies after ECB")], options.tagger(), fetched_at=NOW)
    lexicon = LoadedScorer(LexiconScorer(), "no model in this test")
    cache = LatestCache.from_url(REDIS_URL, prefix=f"{redis_prefix}_rescore",
                                 loader=lambda kind, key, source: latest(db, kind, key, source))
    assert publish_latest(cache, score_window(db, lexicon, FRIDAY, SATURDAY,
                                              options=options).rows) == 1
    upgraded = score_window(db, model, FRIDAY, SATURDAY, options=options)
    with empty_reads(cache.client, cache.key("sentiment", "EURUSD", "newsapi")) as empty:
        for _ in range(20):
            assert publish_latest(cache, upgraded.rows, replaced=True) == 1
    assert not empty
    assert cache.get("sentiment", "EURUSD", source="newsapi")["model"] == model.scorer.model_id


@pytest.fixture
def api() -> Iterator[Api]:
    with serve_api() as served:
        yield served


def test_alpha_vantage_documents_and_its_own_scores_as_a_second_source(
        db: Database, options: SentimentOptions, model: LoadedScorer, api: Api) -> None:
    options = replace(options, alphavantage_api_key="AVKEY", alphavantage_base_url=api.base_url)
    api.route("/query", Answer(200, {"items": "1", "feed": [{
        "title": "Euro slips as ECB's Lagarde signals patience", "url": "https://x.example/1",
        "time_published": "20240308T093000", "summary": "The single currency fell.",
        "source": "FX Wire", "overall_sentiment_score": -0.2,
        "ticker_sentiment": [{"ticker": "FOREX:EUR", "relevance_score": "0.8",
                              "ticker_sentiment_score": "-0.4",
                              "ticker_sentiment_label": "Bearish"}]}]}),
              Answer(200, {"items": "0", "feed": []}))  # GBP
    run = collect(db, "alphavantage", FRIDAY, SATURDAY, options, now=NOW)
    assert (run.stored, run.native_rows) == (1, 1)
    score_window(db, model, FRIDAY, SATURDAY, options=options)
    rows = scores(db).set_index("source")
    native = rows.loc["alphavantage_native"]
    assert (native["symbol"], native["confidence"], native["label"], native["model"]) == (
        "EURUSD", 0.8, "negative", "alphavantage-news-sentiment")
    assert native["sentiment"] == pytest.approx(-0.4)
    assert native["available_at"] == native["time"] + DELAY
    assert rows.loc["alphavantage", "model"] == model.scorer.model_id


def test_sources_that_cannot_deliver_are_skipped_with_their_reason(
        db: Database, options: SentimentOptions, api: Api) -> None:
    missing = collect(db, "newsapi", FRIDAY, SATURDAY, options, now=NOW)
    assert "UNDERDOG_NEWSAPI_API_KEY" in missing.skipped and not missing.failed
    api.route("/v2/everything", Answer(503, b"down"))
    down = collect(db, "newsapi", FRIDAY, SATURDAY,
                   replace(options, newsapi_api_key="k", newsapi_base_url=f"{api.base_url}/v2"),
                   now=NOW)
    assert "HTTP 503" in down.skipped and down.failed


def test_an_open_window_fetches_from_just_before_the_newest_item(
        db: Database, options: SentimentOptions) -> None:
    store_documents(db, [doc("a", "Euro rallies", minute=30)], options.tagger(), fetched_at=NOW)
    now = FRIDAY + timedelta(hours=12)
    run = collect(db, "newsapi", FRIDAY, SATURDAY, options, now=now)
    assert run.since == FRIDAY + timedelta(hours=8, minutes=30)


def test_auto_sources_use_the_fixture_only_without_any_credentials(
        options: SentimentOptions) -> None:
    auto = replace(options, sources=("auto",))
    assert auto.resolved_sources("news") == ["newsapi", "gnews", "alphavantage", "fixture"]
    assert auto.resolved_sources("post") == ["reddit", "fixture"]
    keyed = replace(auto, gnews_api_key="k")
    assert keyed.resolved_sources("news") == ["newsapi", "gnews", "alphavantage"]
    with pytest.raises(ValueError, match="unknown sentiment sources"):
        replace(options, sources=("twitter",)).resolved_sources()

"""Sentiment: raw news and posts, their scores, and the hourly summary."""

import dagster as dg
import pandas as pd

from underdog.sentiment.audits import SentimentAudit
from underdog.sentiment.pipeline import (
    ScoredWindow,
    SourceRun,
    collect_kind,
    refresh_summary,
    score_and_publish,
)
from underdog_assets.defs.common.executors import work_tags
from underdog_assets.defs.common.partitions import WEEKLY_BATCHES
from underdog_assets.defs.common.resources import DatabaseResource, RedisResource, SentimentResource
from underdog_assets.defs.sentiment.partitions import SENTIMENT_DAILY

OWNERS = ["team:research"]
MAX_UNSCORED_SHARE = 0.02
MAX_SCORE_AGE = pd.Timedelta(hours=6)  # news flows around the clock; longer means no feed
SOURCES_TEXT = ("UNDERDOG_SENTIMENT_SOURCES (auto: every API with credentials, the bundled "
                "fixture when none has any)")


def _collect(context: dg.AssetExecutionContext, database: DatabaseResource,
             sentiment: SentimentResource, kind: str) -> dg.MaterializeResult:
    start, end = context.partition_time_window
    runs = collect_kind(database.db, kind, start, end, sentiment.options())
    for run in runs:
        if run.skipped:
            (context.log.warning if run.failed else context.log.info)(f"skipped: {run.skipped}")
    used = [r for r in runs if not r.skipped]
    if runs and not used and any(r.failed for r in runs):
        raise dg.Failure("every source failed: " + "; ".join(r.skipped or "" for r in runs))
    return dg.MaterializeResult(metadata={
        "documents_stored": sum(r.stored for r in runs),
        "documents_fetched": sum(r.fetched for r in runs),
        "duplicates": sum(r.duplicates for r in runs),
        "sources_used": [r.source for r in used],
        "sources_skipped": {r.source: r.skipped for r in runs if r.skipped},
        "by_source": dg.MetadataValue.md(_source_table(runs)),
        "window_start": start.isoformat(), "window_end": end.isoformat(),
    })


def _source_table(runs: list[SourceRun]) -> str:
    if not runs:
        return "no source of this kind is configured"
    frame = pd.DataFrame([{"source": r.source, "fetched": r.fetched, "stored": r.stored,
                           "duplicates": r.duplicates, "since": str(r.since or ""),
                           "skipped": r.skipped or ""} for r in runs])
    return frame.to_markdown(index=False)


@dg.asset(
    op_tags=work_tags("io"),
    pool="news_apis",  # the source's rate limit, across workers
    partitions_def=SENTIMENT_DAILY, backfill_policy=WEEKLY_BATCHES, group_name="sentiment",
    kinds={"postgres"}, owners=OWNERS,
    description=f"News articles (NewsAPI, GNews, Alpha Vantage NEWS_SENTIMENT) published in "
                f"the day, from {SOURCES_TEXT}, stored in raw_documents once per source "
                "(by id and by content hash) with the symbols their keywords name. While the "
                "day is open, each run fetches only what is new.",
)
def raw_news(context: dg.AssetExecutionContext, database: DatabaseResource,
             sentiment: SentimentResource) -> dg.MaterializeResult:
    return _collect(context, database, sentiment, "news")


@dg.asset(
    op_tags=work_tags("io"),
    pool="reddit",  # the source's rate limit, across workers
    partitions_def=SENTIMENT_DAILY, backfill_policy=WEEKLY_BATCHES, group_name="sentiment",
    kinds={"postgres"}, owners=OWNERS,
    description=f"Reddit posts (PRAW, UNDERDOG_REDDIT_SUBREDDITS) created in the day, from "
                f"{SOURCES_TEXT}, stored in raw_documents like the news. Reddit lists about "
                "the newest 1000 posts per subreddit: old days backfill only what is listed.",
)
def raw_posts(context: dg.AssetExecutionContext, database: DatabaseResource,
              sentiment: SentimentResource) -> dg.MaterializeResult:
    return _collect(context, database, sentiment, "post")


SCORE_CHECKS = [
    dg.AssetCheckSpec("sentiment_in_range", asset="sentiment_scores",
                      description="Every score has sentiment in [-1, 1] and confidence in "
                                  "[0, 1]."),
    dg.AssetCheckSpec("unscored_share", asset="sentiment_scores",
                      description=f"At most {MAX_UNSCORED_SHARE:.0%} of the day's documents "
                                  "tagged with a covered symbol have no score."),
    dg.AssetCheckSpec("scores_fresh", asset="sentiment_scores",
                      description="The newest score of the day became known less than "
                                  f"{MAX_SCORE_AGE.components.hours} h before the day's end "
                                  "(or now, for today)."),
]


@dg.asset(
    op_tags=work_tags("cpu"),
    partitions_def=SENTIMENT_DAILY, backfill_policy=WEEKLY_BATCHES,
    deps=["raw_news", "raw_posts"], group_name="sentiment", kinds={"timescale", "pytorch"},
    owners=OWNERS, pool="timescale_write", check_specs=SCORE_CHECKS,
    description="FinBERT (UNDERDOG_FINBERT_MODEL) score per document and tagged symbol: "
                "sentiment = p(positive) - p(negative) in [-1, 1], confidence = the top "
                "probability, label, and the model that made it (the finance lexicon, named "
                "lexicon-lm-v1, when the model cannot be loaded). time = publication; "
                "available_at = when it was known (live: fetched and scored; backfilled: "
                "publication + UNDERDOG_SENTIMENT_POLL_DELAY_S). Latest per symbol and source "
                "in Redis (1 h TTL).",
)
def sentiment_scores(context: dg.AssetExecutionContext, database: DatabaseResource,
                     cache: RedisResource, sentiment: SentimentResource) -> dg.MaterializeResult:
    start, end = context.partition_time_window
    scored = score_and_publish(database.db, cache.cache(database), start, end,
                               sentiment.options())
    if scored.run.fallback_reason:
        context.log.warning(f"sentiment model unavailable ({scored.run.fallback_reason}): "
                            f"scored with the lexicon fallback {scored.run.model}")
    return dg.MaterializeResult(metadata=_score_metadata(scored),
                                check_results=_score_checks(scored.audit, pd.Timestamp(end)))


def _score_metadata(scored: ScoredWindow) -> dict:
    run, found, rows = scored.run, scored.audit, scored.run.rows
    means = rows.groupby(["symbol", "source"])["sentiment"].mean().round(3) if len(rows) else {}
    return {
        "model": run.model, "fallback": run.fallback_reason or "no",
        "rows_written": run.result.written if run.result else 0,
        "rows_rejected": run.result.rejected if run.result else 0,
        "rows_replaced": run.replaced, "documents_scored": run.documents,
        "texts_run_through_model": run.scored_texts, "cache_hits": run.cache_hits,
        "seconds": run.seconds, "redis_keys_updated": scored.published,
        "mean_sentiment": {f"{s} {src}": float(v) for (s, src), v in dict(means).items()},
        "rows_in_window": found.rows,
        "preview": dg.MetadataValue.md(rows.head(8).to_markdown(index=False))
        if len(rows) else "nothing new to score",
    }


def _score_checks(found: SentimentAudit, end: pd.Timestamp) -> list[dg.AssetCheckResult]:
    reference = min(end, pd.Timestamp.now(tz="UTC"))
    newest = pd.Timestamp(found.newest) if found.newest is not None else None
    age_h = round((reference - newest) / pd.Timedelta(hours=1), 2) if newest else None
    return [
        dg.AssetCheckResult(check_name="sentiment_in_range", passed=found.out_of_range == 0,
                            metadata={"out_of_range": found.out_of_range, "rows": found.rows}),
        dg.AssetCheckResult(check_name="unscored_share",
                            passed=found.unscored_share <= MAX_UNSCORED_SHARE,
                            metadata={"documents": found.documents, "unscored": found.unscored,
                                      "share": round(found.unscored_share, 4)}),
        dg.AssetCheckResult(check_name="scores_fresh", severity=dg.AssetCheckSeverity.WARN,
                            passed=age_h is not None and age_h <= MAX_SCORE_AGE / pd.Timedelta(
                                hours=1),
                            metadata={"newest_available_at": str(newest), "age_hours": age_h}),
    ]


@dg.asset(
    op_tags=work_tags("io"),
    partitions_def=SENTIMENT_DAILY, backfill_policy=WEEKLY_BATCHES, deps=["sentiment_scores"],
    group_name="sentiment", kinds={"timescale"}, owners=OWNERS, pool="timescale_write",
    description="Confidence-weighted mean, std and count of sentiment per symbol, source and "
                "UTC hour (continuous aggregate on TimescaleDB, a refreshed table on "
                "PostgreSQL), refreshed after each scoring.",
)
def hourly_sentiment_summary(context: dg.AssetExecutionContext,
                             database: DatabaseResource) -> dg.MaterializeResult:
    summary = refresh_summary(database.db, *context.partition_time_window)
    return dg.MaterializeResult(metadata={"rows_in_window": summary.rows,
                                          "window_start": summary.start.isoformat(),
                                          "window_end": summary.end.isoformat()})

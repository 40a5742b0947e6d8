"""Sentiment end to end: fetch -> raw_documents (deduplicated) -> tag -> score ->
sentiment_scores rows -> Redis latest.

Idempotent and incremental: a document is stored once per source (by its id, and by its
content hash: a repost under a new id is a duplicate); a (symbol, document) pair is scored
once. Rerunning a window adds nothing; lexicon scores are replaced once the model loads.

When a score is known (`available_at`), from stored columns only, so a rerun or a rescore
gives the same value:
    available_at = max(published, min(fetched + SCORING_ALLOWANCE, published + poll_delay))
An item collected live (fetched soon after publication) is known when it was fetched and
scored; a backfilled item is known at publication + the polling delay, what a poller running
then would have seen. A score is never stamped after the moment it is written (`written`):
it exists then, and validation rejects a later stamp as "future". Set
UNDERDOG_SENTIMENT_POLL_DELAY_S to the poll period plus any
delivery delay of the API (the NewsAPI free plan delays articles by a day).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd

from underdog.sentiment.audits import SentimentAudit, audit
from underdog.sentiment.options import SentimentOptions
from underdog.sentiment.scoring.cache import CachedScorer
from underdog.sentiment.scoring.lexicon import MODEL_ID as LEXICON_MODEL
from underdog.sentiment.scoring.loading import LoadedScorer, load_scorer
from underdog.sentiment.scoring.rules import Score
from underdog.sentiment.tagging import Tagger
from underdog.sources import alphavantage_news
from underdog.sources.documents import Document, MissingCredentials, SourceError
from underdog.store.db import Database
from underdog.store.offline import aggregates
from underdog.store.offline import sentiment as sentiment_store
from underdog.store.offline.writers import WriteResult, upsert
from underdog.store.online.cache import LatestCache
from underdog.store.tables import SENTIMENT_SCORES

log = logging.getLogger(__name__)

SCORING_ALLOWANCE = timedelta(minutes=1)  # a run scores what it fetched within a minute
OVERLAP = timedelta(hours=1)  # incremental fetches reach back this far past the last item


@dataclass
class SourceRun:
    """One source's fetch: counts, or why it was skipped."""

    source: str
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    native_rows: int = 0
    since: datetime | None = None
    skipped: str | None = None  # the message (missing credentials, rate limit, outage)
    failed: bool = False  # skipped for an outage or refusal, not for missing credentials


@dataclass
class ScoreRun:
    model: str
    fallback_reason: str | None
    documents: int = 0  # documents that needed a score
    scored_texts: int = 0  # texts the model actually ran on (the rest came from the cache)
    cache_hits: int = 0
    replaced: int = 0  # rows rescored (lexicon -> model)
    rows: pd.DataFrame = field(default_factory=lambda: _frame([]))
    result: WriteResult | None = None
    seconds: float = 0.0


# ---------------------------------------------------------------- fetch and store


def collect(db: Database, source: str, start: datetime, end: datetime,
            options: SentimentOptions, *, kind: str | None = None,
            now: datetime | None = None) -> SourceRun:
    """Fetch `source` for [start, end) (incrementally while the window is open) and store
    the new documents; a source that cannot deliver is skipped with its reason."""
    from underdog.sentiment.fetching import fetch_documents  # PRAW etc.: only to fetch

    now = now or datetime.now(UTC)
    since = _since(db, source, start, end, now)
    run = SourceRun(source, since=since)
    try:
        documents = fetch_documents(source, since, min(end, now), options, kind=kind)
    except SourceError as exc:
        run.skipped, run.failed = str(exc), not isinstance(exc, MissingCredentials)
        (log.warning if run.failed else log.info)("sentiment source skipped: %s", exc)
        return run
    new = store_documents(db, documents, options.tagger(), fetched_at=now)
    run.fetched, run.stored, run.duplicates = len(documents), len(new), len(documents) - len(new)
    if source == alphavantage_news.SOURCE:
        run.native_rows = _write_native(db, new, options, now=now)
    return run


def collect_kind(db: Database, kind: str, start: datetime, end: datetime,
                 options: SentimentOptions) -> list[SourceRun]:
    """`collect` from every configured source of `kind` ("news" or "post")."""
    return [collect(db, source, start, end, options, kind=kind)
            for source in options.resolved_sources(kind)]


def _since(db: Database, source: str, start: datetime, end: datetime, now: datetime) -> datetime:
    """The window's start; while it is still open, just before the newest stored item."""
    if end <= now:
        return start
    newest = sentiment_store.newest_published(db, source, start, end)
    return max(start, newest - OVERLAP) if newest else start


def store_documents(db: Database, documents: Sequence[Document], tagger: Tagger, *,
                    fetched_at: datetime) -> list[Document]:
    """Insert the documents not stored yet (same source and id, or same content); return
    those inserted. Tags are the keyword map's symbols, all of them (scoring filters)."""
    unique = _unique(documents)
    if not unique:
        return []
    params = [{"source": d.source, "item_id": d.item_id, "url": d.url, "title": d.title,
               "body": d.body, "published_at": d.published_at, "fetched_at": fetched_at,
               "content_hash": d.content_hash, "symbols": tagger.tags(d.text)} for d in unique]
    inserted = sentiment_store.insert_documents(db, params)
    return [d for d in unique if (d.source, d.item_id) in inserted]


def _unique(documents: Sequence[Document]) -> list[Document]:
    """First of each (source, id) and of each (source, content) within one batch."""
    seen: set[tuple[str, str]] = set()
    out = []
    for d in documents:
        keys = {(d.source, "id:" + d.item_id), (d.source, "hash:" + d.content_hash)}
        if not keys & seen:
            seen |= keys
            out.append(d)
    return out


def _write_native(db: Database, documents: Sequence[Document], options: SentimentOptions,
                  *, now: datetime) -> int:
    """Alpha Vantage's own scores of the new documents, as source `alphavantage_native`."""
    tagger, rows = options.tagger(), []
    for d in documents:
        for symbol in (s for s in tagger.tags(d.text) if s in options.symbols):
            pair = alphavantage_news.pair_sentiment(d, symbol)
            if pair is not None:
                rows.append(_row(symbol, alphavantage_news.NATIVE_SOURCE, d.item_id,
                                 d.published_at, now, options.poll_delay,
                                 Score(*pair, alphavantage_news.NATIVE_MODEL), now))
    if rows:
        upsert(db, SENTIMENT_SCORES, _frame(rows), source=alphavantage_news.NATIVE_SOURCE,
               symbols=options.symbols)
    return len(rows)


# ---------------------------------------------------------------- score


def known_at(published: datetime, fetched: datetime, poll_delay: timedelta,
             written: datetime | None = None) -> datetime:
    """When a score of an item became known (see the module docstring)."""
    known = min(fetched + SCORING_ALLOWANCE, published + poll_delay)
    if written is not None:
        known = min(known, written)
    return max(published, known)


def score_window(db: Database, loaded: LoadedScorer, start: datetime, end: datetime, *,
                 options: SentimentOptions, sources: Sequence[str] | None = None,
                 scorer: CachedScorer | None = None) -> ScoreRun:
    """Score every tagged document published in [start, end) that lacks a score for one of
    the configured symbols (or has only a lexicon score while the model is loaded)."""
    began = time.perf_counter()
    scorer = scorer or CachedScorer(loaded.scorer, lookup=lambda h, m: stored_scores(db, h, m))
    run = ScoreRun(loaded.scorer.model_id, loaded.fallback_reason)
    pending = _pending(db, start, end, options, sources, loaded.scorer.model_id)
    if pending.empty:
        run.seconds = round(time.perf_counter() - began, 3)
        return run
    texts = [_text(r) for r in pending.itertuples(index=False)]
    before = (scorer.stats.memory_hits, scorer.stats.stored_hits, scorer.stats.scored)
    scores = scorer.score(list(pending["content_hash"]), texts)
    written = datetime.now(UTC)
    rows = [_row(symbol, r.source, r.item_id, r.published_at, r.fetched_at, options.poll_delay,
                 score, written)
            for r, score in zip(pending.itertuples(index=False), scores, strict=True)
            for symbol in r.symbols if symbol in options.symbols]
    run.rows = _frame(rows)
    run.result = upsert(db, SENTIMENT_SCORES, run.rows, source="sentiment_scoring",
                        symbols=options.symbols, now=written)
    after = (scorer.stats.memory_hits, scorer.stats.stored_hits, scorer.stats.scored)
    run.documents, run.replaced = len(pending), int(pending["rescore"].sum())
    run.cache_hits = (after[0] - before[0]) + (after[1] - before[1])
    run.scored_texts = after[2] - before[2]
    run.seconds = round(time.perf_counter() - began, 3)
    return run


def _pending(db: Database, start: datetime, end: datetime, options: SentimentOptions,
             sources: Sequence[str] | None, model: str) -> pd.DataFrame:
    return sentiment_store.pending_documents(db, start, end, symbols=options.symbols,
                                             sources=sources, model=model,
                                             lexicon=LEXICON_MODEL)


def _text(row) -> str:
    return Document(row.source, row.item_id, row.title or "", row.body or "",
                    row.published_at).text


def stored_scores(db: Database, hashes: Sequence[str], model: str) -> dict[str, Score]:
    """Scores this model already gave to texts with these content hashes."""
    found = sentiment_store.scores_by_content(db, hashes, model)
    return {h: Score(s, c, label, model) for h, (s, c, label) in found.items()}


def _row(symbol: str, source: str, item_id: str, published: datetime, fetched: datetime,
         poll_delay: timedelta, score: Score, written: datetime) -> dict[str, object]:
    return {"symbol": symbol, "source": source, "item_id": item_id, "time": published,
            "available_at": known_at(published, fetched, poll_delay, written),
            "sentiment": score.sentiment, "confidence": score.confidence, "label": score.label,
            "model": score.model}


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=SENTIMENT_SCORES.column_names)
    for column in ("time", "available_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


# ---------------------------------------------------------------- a day's scoring


@dataclass
class ScoredWindow:
    """What the `sentiment_scores` asset reports: the run, Redis keys updated, the audit."""

    run: ScoreRun
    published: int
    audit: SentimentAudit


def score_and_publish(db: Database, cache: LatestCache, start: datetime, end: datetime,
                      options: SentimentOptions) -> ScoredWindow:
    """Score [start, end) with the configured model (the lexicon if it cannot load),
    reaching back OVERLAP for late arrivals of the window before that this run fetched;
    publish the newest scores to Redis; audit [start, end)."""
    loaded = load_scorer(options.finbert_model, quantize=options.finbert_quantize)
    run = score_window(db, loaded, start - OVERLAP, end, options=options)
    published = publish_latest(cache, run.rows, replaced=run.replaced > 0)
    return ScoredWindow(run, published, audit(db, start, end, options.symbols))


# ---------------------------------------------------------------- summary


@dataclass(frozen=True)
class SummaryRun:
    start: datetime  # the refreshed window, widened to whole hours
    end: datetime
    rows: int  # summary rows in it


def refresh_summary(db: Database, start: datetime, end: datetime) -> SummaryRun:
    """Recompute `hourly_sentiment_summary` over [start - OVERLAP, end): the scoring run
    reaches back as far (late arrivals of the previous day)."""
    lo, hi = aggregates.refresh(db, "hourly_sentiment_summary", start - OVERLAP, end)
    return SummaryRun(lo, hi, sentiment_store.summary_rows(db, lo, hi))


# ---------------------------------------------------------------- Redis


def publish_latest(cache: LatestCache, rows: pd.DataFrame, *, replaced: bool = False) -> int:
    """The newest written score per (symbol, source) into Redis; returns keys updated.

    The cache keeps the newer event (by `time`); rescored rows keep their time, so when rows
    were replaced their keys are reloaded from the table in one step (`LatestCache.refresh`,
    through the cache's loader): no reader sees them missing.
    """
    if rows.empty:
        return 0
    newest = rows.sort_values(["time", "available_at"]).groupby(["symbol", "source"]).tail(1)
    if replaced:
        pairs = list(zip(newest["symbol"], newest["source"], strict=True))
        return len(pairs) if cache.refresh("sentiment", pairs) else 0
    return sum(cache.put("sentiment", r["symbol"], r, source=r["source"])
               for r in newest.to_dict("records"))

"""underdog sentiment: fetch, score."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import typer
from rich.table import Table as RichTable

from underdog.cli.common import aware, cache, console, database, fail
from underdog.config import get_settings

app = typer.Typer(no_args_is_help=True, help="Sentiment: fetch sources, score texts.")


def _window_bound(value: str) -> datetime:
    """A day (2024-03-08) or a time (2024-03-08T14:30), in UTC."""
    return aware(value, "expected a day or a time like 2024-03-08T14:30").astimezone(UTC)


@app.command("fetch")
def sentiment_fetch(
    source: str = typer.Option(..., help="newsapi | gnews | reddit | alphavantage | fixture"),
    since: str | None = typer.Option(None, help="from, a day or a time (default: 24 h ago)"),
    until: str | None = typer.Option(None, help="to (exclusive), a day or a time "
                                                "(default: now)"),
) -> None:
    """Fetch one source, store its new documents, score them, publish the latest to Redis."""
    from underdog.sentiment.loading import load_scorer
    from underdog.sentiment.options import ALL_SOURCES, SentimentOptions
    from underdog.sentiment.pipeline import collect, publish_latest, score_window

    if source not in ALL_SOURCES:
        fail(f"unknown source {source!r}; use one of {', '.join(ALL_SOURCES)}")
    options = SentimentOptions.from_settings(get_settings())
    now = datetime.now(UTC)
    end = _window_bound(until) if until else now
    start = _window_bound(since) if since else end - timedelta(days=1)
    with database() as db:
        run = collect(db, source, start, end, options, now=now)
        if run.skipped:
            fail(f"{source} skipped: {run.skipped}")
        loaded = load_scorer(options.finbert_model, quantize=options.finbert_quantize)
        scored = score_window(db, loaded, start, end, options=options)
        keys = publish_latest(cache(db), scored.rows, replaced=scored.replaced > 0)
    console.print(f"{source}: {run.fetched} fetched, {run.stored} new, {run.duplicates} "
                  f"duplicates; {len(scored.rows)} scores by {scored.model} "
                  f"({scored.scored_texts} texts through the model, {scored.cache_hits} "
                  f"from the cache); {keys} Redis keys updated")


@app.command("score")
def sentiment_score(texts: list[str] = typer.Argument(..., help="texts to score")) -> None:  # noqa: B008
    """Score texts with UNDERDOG_FINBERT_MODEL (or the lexicon fallback)."""
    from underdog.sentiment.loading import load_scorer

    settings = get_settings()
    loaded = load_scorer(settings.finbert_model, quantize=settings.finbert_quantize)
    if loaded.is_fallback:
        console.print(f"[bold yellow]warning:[/] {loaded.fallback_reason}: scored by the "
                      f"lexicon fallback, not the model")
    table = RichTable()
    for column in ("text", "score", "confidence", "label", "model"):
        table.add_column(column, justify="right" if column in ("score", "confidence") else "left")
    for text, score in zip(texts, loaded.scorer.score(texts), strict=True):
        table.add_row(text, f"{score.sentiment:+.3f}", f"{score.confidence:.3f}", score.label,
                      score.model)
    console.print(table)



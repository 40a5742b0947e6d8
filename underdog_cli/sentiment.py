"""underdog sentiment: fetch, score."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table as RichTable

from underdog.config import get_settings
from underdog_cli import arguments
from underdog_cli.common import cache, console, database, status
from underdog_cli.errors import fail

app = typer.Typer(no_args_is_help=True, help="Sentiment: fetch sources, score texts.")


@app.command("fetch")
def sentiment_fetch(
    source: str = typer.Option(..., help="newsapi | gnews | reddit | alphavantage | fixture"),
    since: Annotated[datetime | None, typer.Option(
        parser=arguments.moment, help="from, a day or a time (default: 24 h ago)")] = None,
    until: Annotated[datetime | None, typer.Option(
        parser=arguments.moment, help="to (exclusive), a day or a time (default: now)")
    ] = None,
) -> None:
    """Fetch one source, store its new documents, score them, publish the latest to Redis."""
    from underdog.sentiment.options import ALL_SOURCES, SentimentOptions
    from underdog.sentiment.pipeline import collect, publish_latest, score_window
    from underdog.sentiment.scoring.loading import load_scorer

    arguments.choice(source, ALL_SOURCES, "--source")
    now = datetime.now(UTC)
    end = until.astimezone(UTC) if until else now
    start = since.astimezone(UTC) if since else end - timedelta(days=1)
    arguments.ordered(start, end, ("--since", "--until"))
    options = SentimentOptions.from_settings(get_settings())
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
    from underdog.sentiment.scoring.loading import load_scorer

    settings = get_settings()
    loaded = load_scorer(settings.sentiment.finbert.model,
                         quantize=settings.sentiment.finbert.quantize)
    if loaded.is_fallback:
        status.print(f"[bold yellow]warning:[/] {loaded.fallback_reason}: scored by the "
                     f"lexicon fallback, not the model")
    table = RichTable()
    for column in ("text", "score", "confidence", "label", "model"):
        number = column in ("score", "confidence")  # every digit, never cut: no_wrap
        table.add_column(column, justify="right" if number else "left", no_wrap=number,
                         overflow="fold")
    for text, score in zip(texts, loaded.scorer.score(texts), strict=True):
        table.add_row(text, repr(score.sentiment), repr(score.confidence), score.label,
                      score.model)
    console.print(table)



"""Every resource of the code location; values come from the environment at run time."""

import dagster as dg

from underdog.config import load_settings
from underdog_assets.defs.common.resources import (
    DatabaseResource,
    InsiderResource,
    MacroResource,
    MarketResource,
    RedisResource,
    SentimentResource,
)


@dg.definitions
def resources() -> dg.Definitions:
    settings = load_settings()  # at load time, not import time: UNDERDOG_SYMBOLS etc.
    return dg.Definitions(
        resources={
            "database": DatabaseResource(database_url=dg.EnvVar("UNDERDOG_DATABASE_URL")),
            "cache": RedisResource(
                redis_url=dg.EnvVar("UNDERDOG_REDIS_URL"),
                prefix=dg.EnvVar("UNDERDOG_REDIS_PREFIX"),
            ),
            "market": MarketResource(
                symbols=settings.symbols, seed=settings.simulator_seed,
                edge=settings.simulator_edge,
                source=settings.market_source,
                dukascopy_base_url=settings.dukascopy_base_url,
                dukascopy_cache_dir=settings.dukascopy_cache_dir,
            ),
            # API keys are read from the settings when used, never put in the config.
            "macro": MacroResource(
                series=settings.fred_series, source=settings.macro_source,
                fred_base_url=settings.fred_base_url,
            ),
            "insider": InsiderResource(
                issuers=settings.edgar_ciks, sec_user_agent=settings.sec_user_agent or "",
                edgar_base_url=settings.edgar_base_url,
                edgar_archives_url=settings.edgar_archives_url,
                alphavantage_base_url=settings.alphavantage_base_url,
            ),
            "sentiment": SentimentResource(
                symbols=settings.symbols, sources=settings.sentiment_sources,
                finbert_model=settings.finbert_model,
                finbert_quantize=settings.finbert_quantize,
                poll_delay_s=settings.sentiment_poll_delay_s,
                keywords_file=settings.sentiment_keywords_file,
                newsapi_base_url=settings.newsapi_base_url,
                gnews_base_url=settings.gnews_base_url,
                alphavantage_base_url=settings.alphavantage_base_url,
                reddit_base_url=settings.reddit_base_url or "",
                reddit_subreddits=settings.reddit_subreddits,
            ),
        }
    )

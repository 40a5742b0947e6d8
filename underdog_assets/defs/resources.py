"""Every resource of the code location; values come from the environment at run time."""

import dagster as dg

from underdog.config import load_settings
from underdog_assets.lib.resources import DatabaseResource, MarketResource, RedisResource


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
                source=settings.market_source,
                dukascopy_base_url=settings.dukascopy_base_url,
                dukascopy_cache_dir=settings.dukascopy_cache_dir,
            ),
        }
    )

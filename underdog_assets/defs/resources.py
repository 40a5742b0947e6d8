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
            # API keys are read from the settings when used, never put in the config.
            "market": MarketResource.from_settings(settings),
            "macro": MacroResource.from_settings(settings),
            "insider": InsiderResource.from_settings(settings),
            "sentiment": SentimentResource.from_settings(settings),
        }
    )

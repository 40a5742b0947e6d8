"""ConfigurableResources wrapping the core's database and cache objects."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from underdog.ingest import SourceOptions
from underdog.sources import dukascopy
from underdog.store.cache import LatestCache
from underdog.store.db import Database
from underdog.store.readers import latest


class DatabaseResource(dg.ConfigurableResource):
    """The feature store's PostgreSQL/TimescaleDB database (pools opened per run)."""

    database_url: str
    reader_role: str = "underdog_reader"
    _db: Database | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._db = Database(self.database_url, reader_role=self.reader_role).open()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._db is not None:
            self._db.close()

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("DatabaseResource used outside a run")
        return self._db


class RedisResource(dg.ConfigurableResource):
    """The latest-value cache."""

    redis_url: str
    prefix: str = "underdog"
    ttl_s: int = 3600

    def cache(self, database: DatabaseResource | None = None) -> LatestCache:
        loader = (lambda kind, key, source: latest(database.db, kind, key, source)) if (
            database is not None
        ) else None
        return LatestCache.from_url(self.redis_url, prefix=self.prefix, ttl_s=self.ttl_s,
                                    loader=loader)


class MarketResource(dg.ConfigurableResource):
    """Which symbols the market assets cover, where their ticks come from, how to reach it."""

    symbols: list[str]
    seed: int
    source: str = "simulated"  # simulated | dukascopy | mt5 (underdog.ingest.SOURCES)
    dukascopy_base_url: str = dukascopy.DEFAULT_BASE_URL
    dukascopy_cache_dir: str = ""  # empty: no cache
    mt5_host: str = "127.0.0.1"
    mt5_sys_port: int = 15555
    mt5_data_port: int = 15556

    def options(self) -> SourceOptions:
        return SourceOptions(
            seed=self.seed, dukascopy_base_url=self.dukascopy_base_url,
            dukascopy_cache_dir=self.dukascopy_cache_dir, mt5_host=self.mt5_host,
            mt5_sys_port=self.mt5_sys_port, mt5_data_port=self.mt5_data_port,
        )

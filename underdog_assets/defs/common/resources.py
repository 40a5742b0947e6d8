"""ConfigurableResources wrapping the core's database and cache objects."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from underdog.config import load_settings
from underdog.market.backfill import SourceOptions
from underdog.sentiment.options import SentimentOptions
from underdog.sources import alphavantage_insider, dukascopy, edgar, fred
from underdog.store.db import Database
from underdog.store.offline.readers import latest
from underdog.store.online.cache import LatestCache


class DatabaseResource(dg.ConfigurableResource):
    """The feature store's PostgreSQL/TimescaleDB database (pools opened per run)."""

    database_url: str
    reader_role: str = "underdog_reader"
    _db: Database | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # The reader's own DSN and password come from the settings, never from the config.
        settings = load_settings()
        self._db = Database(self.database_url, reader_dsn=settings.reader_dsn,
                            reader_role=self.reader_role,
                            reader_password=settings.reader_secret,
                            max_lag_s=settings.replica_max_lag_s).open()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._db is not None:
            self._db.close()

    @property
    def db(self) -> Database:
        """The database as asset steps read it: `db.fresh`. A step reads what it or the
        steps before it wrote, so on a replica it reads only once the replica has everything
        the primary had (or fails naming the lag); writes and `primary_reader()` use the
        primary. Without a replica this is the plain Database."""
        if self._db is None:
            raise RuntimeError("DatabaseResource used outside a run")
        return self._db.fresh


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
    edge: float = 0.0  # simulated: the planted edge's strength (0: the plain random walk)
    source: str = "simulated"  # simulated | dukascopy | mt5 (underdog.market.backfill.SOURCES)
    dukascopy_base_url: str = dukascopy.DEFAULT_BASE_URL
    dukascopy_cache_dir: str = ""  # empty: no cache
    mt5_host: str = "127.0.0.1"
    mt5_sys_port: int = 15555
    mt5_data_port: int = 15556

    def options(self) -> SourceOptions:
        return SourceOptions(
            seed=self.seed, edge=self.edge, dukascopy_base_url=self.dukascopy_base_url,
            dukascopy_cache_dir=self.dukascopy_cache_dir, mt5_host=self.mt5_host,
            mt5_sys_port=self.mt5_sys_port, mt5_data_port=self.mt5_data_port,
        )


def _secret(name: str) -> str | None:
    """A key from the settings (environment or .env) when it is used: never in Dagster config."""
    value = getattr(load_settings(), name)
    return value.get_secret_value() if value is not None else None


class MacroResource(dg.ConfigurableResource):
    """Which FRED series macro_indicators holds and where they come from (auto: FRED when
    UNDERDOG_FRED_API_KEY is set, else the bundled fixture; fixture; fred)."""

    series: list[str]
    source: str = "auto"
    fred_base_url: str = fred.DEFAULT_BASE_URL
    fred_tries: int = 5
    fred_backoff_s: float = 0.5

    def vintage_source(self) -> tuple[fred.VintageSource | None, str]:
        from underdog.macro.vintages import choose_source

        return choose_source(self.source, api_key=_secret("fred_api_key"),
                             base_url=self.fred_base_url, tries=self.fred_tries,
                             backoff_s=self.fred_backoff_s)


class InsiderResource(dg.ConfigurableResource):
    """Issuers (CIKs or tickers) followed on SEC EDGAR, and Alpha Vantage where a key is set."""

    issuers: list[str]
    sec_user_agent: str = ""
    edgar_base_url: str = edgar.DEFAULT_BASE_URL
    edgar_archives_url: str = edgar.DEFAULT_ARCHIVES_URL
    alphavantage_base_url: str = alphavantage_insider.DEFAULT_BASE_URL
    tries: int = 5
    backoff_s: float = 0.5

    def edgar_client(self) -> tuple[edgar.EdgarClient | None, str]:
        """The client, or None and why not (no issuers, no User-Agent)."""
        if not self.issuers:
            return None, "skipped: no issuers (UNDERDOG_EDGAR_CIKS)"
        try:
            client = edgar.EdgarClient(
                self.sec_user_agent, base_url=self.edgar_base_url,
                archives_url=self.edgar_archives_url, tries=self.tries, backoff_s=self.backoff_s)
        except edgar.EdgarConfigError as exc:
            return None, f"skipped: {exc}"
        return client, ""

    def alphavantage_client(self) -> tuple[alphavantage_insider.AlphaVantageInsider | None, str]:
        key = _secret("alphavantage_api_key")
        if not key:
            return None, "skipped: UNDERDOG_ALPHAVANTAGE_API_KEY is not set"
        return alphavantage_insider.AlphaVantageInsider(
            key, base_url=self.alphavantage_base_url, tries=self.tries,
            backoff_s=self.backoff_s), ""


class SentimentResource(dg.ConfigurableResource):
    """Sentiment sources, symbol tagging and scorer. Credentials (API keys, Reddit's client
    id and secret) are read from the settings when used, never put in the config."""

    symbols: list[str]
    sources: list[str] = ["auto"]  # auto | newsapi, gnews, alphavantage, reddit, fixture
    finbert_model: str = "ProsusAI/finbert"
    finbert_quantize: bool = False
    poll_delay_s: int = 900
    keywords_file: str = ""
    newsapi_base_url: str = "https://newsapi.org/v2"
    gnews_base_url: str = "https://gnews.io/api/v4"
    alphavantage_base_url: str = "https://www.alphavantage.co"
    reddit_base_url: str = ""  # empty: Reddit's own hosts
    reddit_subreddits: list[str] = ["forex", "Forexstrategy", "economics"]
    tries: int = 5
    backoff_s: float = 0.5

    def options(self) -> SentimentOptions:
        return SentimentOptions.from_settings(
            load_settings(), symbols=tuple(self.symbols), sources=tuple(self.sources),
            finbert_model=self.finbert_model, finbert_quantize=self.finbert_quantize,
            poll_delay_s=self.poll_delay_s, keywords_file=self.keywords_file,
            newsapi_base_url=self.newsapi_base_url, gnews_base_url=self.gnews_base_url,
            alphavantage_base_url=self.alphavantage_base_url,
            reddit_base_url=self.reddit_base_url or None,
            reddit_subreddits=tuple(self.reddit_subreddits), tries=self.tries,
            backoff_s=self.backoff_s,
        )

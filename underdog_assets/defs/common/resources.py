"""ConfigurableResources wrapping the core's database and cache objects."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from underdog.config import Settings, load_settings
from underdog.market.backfill import SourceOptions
from underdog.sentiment.options import SentimentOptions
from underdog.sources import alphavantage_insider, edgar, fred
from underdog.sources.http import BACKOFF_S, TRIES
from underdog.store.db import Database
from underdog.store.offline.readers import latest
from underdog.store.online.cache import LatestCache

# The defaults of every field below, stated once in underdog.config (the settings' sections).
_DEFAULTS = Settings.model_construct()


class DatabaseResource(dg.ConfigurableResource):
    """The feature store's PostgreSQL/TimescaleDB database (pools opened per run)."""

    database_url: str
    reader_role: str = _DEFAULTS.reader_role
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
    prefix: str = _DEFAULTS.redis_prefix
    ttl_s: int = _DEFAULTS.cache_ttl_s

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
    edge: float = _DEFAULTS.market.simulator.edge  # simulated: the planted edge's strength
    source: str = _DEFAULTS.market.source  # underdog.market.backfill.SOURCES
    dukascopy_base_url: str = _DEFAULTS.market.dukascopy.base_url
    dukascopy_cache_dir: str = ""  # empty: no cache
    mt5_host: str = _DEFAULTS.market.mt5.host
    mt5_sys_port: int = _DEFAULTS.market.mt5.sys_port
    mt5_data_port: int = _DEFAULTS.market.mt5.data_port

    @classmethod
    def from_settings(cls, settings: Settings) -> MarketResource:
        market = settings.market
        return cls(symbols=settings.symbols, seed=market.simulator.seed,
                   edge=market.simulator.edge, source=market.source,
                   dukascopy_base_url=market.dukascopy.base_url,
                   dukascopy_cache_dir=market.dukascopy.cache_dir, mt5_host=market.mt5.host,
                   mt5_sys_port=market.mt5.sys_port, mt5_data_port=market.mt5.data_port)

    def options(self) -> SourceOptions:
        return SourceOptions(
            seed=self.seed, edge=self.edge, dukascopy_base_url=self.dukascopy_base_url,
            dukascopy_cache_dir=self.dukascopy_cache_dir, mt5_host=self.mt5_host,
            mt5_sys_port=self.mt5_sys_port, mt5_data_port=self.mt5_data_port,
        )


def _secret(value) -> str | None:
    """A key from the settings (environment or .env), read when it is used: never put in
    Dagster config."""
    return value.get_secret_value() if value is not None else None


class MacroResource(dg.ConfigurableResource):
    """Which FRED series macro_indicators holds and where they come from (auto: FRED when
    UNDERDOG_FRED_API_KEY is set, else the bundled fixture; fixture; fred)."""

    series: list[str]
    source: str = _DEFAULTS.macro.source
    fred_base_url: str = _DEFAULTS.macro.fred.base_url
    fred_tries: int = TRIES
    fred_backoff_s: float = BACKOFF_S

    @classmethod
    def from_settings(cls, settings: Settings) -> MacroResource:
        macro = settings.macro
        return cls(series=macro.fred.series, source=macro.source,
                   fred_base_url=macro.fred.base_url)

    def vintage_source(self) -> tuple[fred.VintageSource | None, str]:
        from underdog.macro.vintages import choose_source

        return choose_source(self.source, api_key=_secret(load_settings().macro.fred.api_key),
                             base_url=self.fred_base_url, tries=self.fred_tries,
                             backoff_s=self.fred_backoff_s)


class InsiderResource(dg.ConfigurableResource):
    """Issuers (CIKs or tickers) followed on SEC EDGAR, and Alpha Vantage where a key is set."""

    issuers: list[str]
    sec_user_agent: str = ""
    edgar_base_url: str = _DEFAULTS.insider.edgar.base_url
    edgar_archives_url: str = _DEFAULTS.insider.edgar.archives_url
    alphavantage_base_url: str = _DEFAULTS.alphavantage.base_url
    tries: int = TRIES
    backoff_s: float = BACKOFF_S

    @classmethod
    def from_settings(cls, settings: Settings) -> InsiderResource:
        edgar = settings.insider.edgar
        return cls(issuers=edgar.ciks, sec_user_agent=edgar.user_agent or "",
                   edgar_base_url=edgar.base_url, edgar_archives_url=edgar.archives_url,
                   alphavantage_base_url=settings.alphavantage.base_url)

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
        key = _secret(load_settings().alphavantage.api_key)
        if not key:
            return None, "skipped: UNDERDOG_ALPHAVANTAGE_API_KEY is not set"
        return alphavantage_insider.AlphaVantageInsider(
            key, base_url=self.alphavantage_base_url, tries=self.tries,
            backoff_s=self.backoff_s), ""


class SentimentResource(dg.ConfigurableResource):
    """Sentiment sources, symbol tagging and scorer. Credentials (API keys, Reddit's client
    id and secret) are read from the settings when used, never put in the config."""

    symbols: list[str]
    sources: list[str] = _DEFAULTS.sentiment.sources  # auto | newsapi, gnews, ..., fixture
    finbert_model: str = _DEFAULTS.sentiment.finbert.model
    finbert_quantize: bool = _DEFAULTS.sentiment.finbert.quantize
    poll_delay_s: int = _DEFAULTS.sentiment.poll_delay_s
    keywords_file: str = _DEFAULTS.sentiment.keywords_file
    newsapi_base_url: str = _DEFAULTS.sentiment.newsapi.base_url
    gnews_base_url: str = _DEFAULTS.sentiment.gnews.base_url
    alphavantage_base_url: str = _DEFAULTS.alphavantage.base_url
    reddit_base_url: str = ""  # empty: Reddit's own hosts
    reddit_subreddits: list[str] = _DEFAULTS.sentiment.reddit.subreddits
    tries: int = TRIES
    backoff_s: float = BACKOFF_S

    @classmethod
    def from_settings(cls, settings: Settings) -> SentimentResource:
        section = settings.sentiment
        return cls(symbols=settings.symbols, sources=section.sources,
                   finbert_model=section.finbert.model,
                   finbert_quantize=section.finbert.quantize,
                   poll_delay_s=section.poll_delay_s, keywords_file=section.keywords_file,
                   newsapi_base_url=section.newsapi.base_url,
                   gnews_base_url=section.gnews.base_url,
                   alphavantage_base_url=settings.alphavantage.base_url,
                   reddit_base_url=section.reddit.base_url or "",
                   reddit_subreddits=section.reddit.subreddits)

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

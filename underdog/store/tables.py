"""What the writers know about each fact table: columns, types, key, validation rules.

The migrations own the DDL; `tests/store/test_migrations.py` checks that these specs match
the columns the migrations create, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from underdog.store.db import SCHEMA


@dataclass(frozen=True)
class Column:
    name: str
    pgtype: str  # text | timestamptz | date | float8 | int8 | int4 | int2 | bool | jsonb
    nullable: bool = False
    positive: bool = False  # finite and > 0 (prices)
    non_negative: bool = False  # finite and >= 0 (volumes, counts)
    symbol: bool = False  # an instrument symbol: format-checked (and known-checked)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    ohlc: bool = False  # rows carry open/high/low/close that must be consistent
    # Rows stored encoded (ticks, bars): the table's own columns; `columns` are then what writers
    # take and what the view `values_view` reads back, value for value.
    stored: tuple[Column, ...] | None = None
    values_view: str | None = None

    @property
    def qualified(self) -> str:
        return f"{SCHEMA}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def stored_columns(self) -> tuple[Column, ...]:
        return self.stored or self.columns

    @property
    def readable(self) -> str:
        """The relation to SELECT the `columns` from."""
        return f"{SCHEMA}.{self.values_view or self.name}"


def _c(name: str, pgtype: str = "float8", **rules: bool) -> Column:
    return Column(name, pgtype, **rules)


_SYMBOL = _c("symbol", "text", symbol=True)
_TIME = _c("time", "timestamptz")
_AVAILABLE = _c("available_at", "timestamptz")

# Bar prices are stored as integers and a scale too (revision 0012,
# underdog.store.offline.bar_storage); the view underdog.ohlcv_values gives them back.
OHLCV = Table(
    "ohlcv",
    (_SYMBOL, _TIME, _c("open", positive=True), _c("high", positive=True),
     _c("low", positive=True), _c("close", positive=True),
     _c("volume", "int8", non_negative=True), _c("spread", non_negative=True),
     _c("source", "text")),
    key=("symbol", "time"),
    ohlc=True,
    stored=(_SYMBOL, _TIME, _c("price_scale", "int2"), _c("open_units", "int8"),
            _c("high_units", "int8"), _c("low_units", "int8"), _c("close_units", "int8"),
            _c("volume", "int8"), _c("spread"), _c("source", "text")),
    values_view="ohlcv_values",
)

# Ticks are stored as integers and scales (revision 0010, underdog.store.offline.tick_storage):
# prices as units of 10^-price_scale, volumes of 10^-volume_scale, available_at as its lag
# behind time. The view underdog.tick_values gives the columns below back, exactly.
TICKS = Table(
    "ticks",
    (_SYMBOL, _TIME, _c("seq", "int8"), _c("bid", positive=True), _c("ask", positive=True),
     _c("bid_volume", nullable=True, non_negative=True),
     _c("ask_volume", nullable=True, non_negative=True), _AVAILABLE),
    key=("symbol", "time", "seq"),
    stored=(_SYMBOL, _TIME, _c("seq", "int8"), _c("price_scale", "int2"),
            _c("bid_units", "int8"), _c("ask_units", "int8"), _c("volume_scale", "int2"),
            _c("bid_volume_units", "int8", nullable=True),
            _c("ask_volume_units", "int8", nullable=True), _c("available_lag_us", "int8")),
    values_view="tick_values",
)

SENTIMENT_SCORES = Table(
    "sentiment_scores",
    (_SYMBOL, _c("source", "text"), _c("item_id", "text"), _TIME, _AVAILABLE,
     _c("sentiment"), _c("confidence", non_negative=True), _c("label", "text"),
     _c("model", "text")),
    key=("symbol", "source", "item_id", "time"),
)

MACRO_INDICATORS = Table(
    "macro_indicators",
    (_c("series_id", "text"), _TIME, _c("realtime_start", "date"),
     _c("realtime_end", "date", nullable=True), _c("value", nullable=True),
     _c("name", "text", nullable=True), _c("units", "text", nullable=True), _AVAILABLE),
    key=("series_id", "time", "realtime_start"),
)

REGIME_PREDICTIONS = Table(
    "regime_predictions",
    (_SYMBOL, _TIME, _c("model_version", "text"), _c("regime", "text"), _c("confidence"),
     _c("p_trend"), _c("p_range"), _c("p_transition"), _c("features", "jsonb", nullable=True),
     _AVAILABLE),
    key=("symbol", "time", "model_version"),
)

STATE_FEATURES = (
    "close", "log_return", "atr_pct", "macd_hist_pct", "rsi", "bb_width", "sentiment",
    "regime_trend", "regime_range", "regime_transition", "vix", "fed_funds", "yield_curve",
    "volume_ratio",
)

STATE_VECTORS = Table(
    "state_vectors",
    (_SYMBOL, _TIME, _c("feature_version", "int4"), *(_c(n) for n in STATE_FEATURES),
     _AVAILABLE),
    key=("symbol", "time", "feature_version"),
)

# The backtest ledger's rows name the run that wrote them (revision 0007).
_RUN = _c("run_id", "text", nullable=True)

TRADES = Table(
    "trades",
    (_TIME, _c("trade_id", "text"), _c("strategy", "text"), _SYMBOL, _c("side", "text"),
     _c("size", positive=True), _c("entry_time", "timestamptz"),
     _c("entry_price", positive=True), _c("exit_price", positive=True),
     _c("commission", non_negative=True), _c("pnl"), _AVAILABLE, _RUN),
    key=("time", "trade_id"),
)

POSITIONS = Table(
    "positions",
    (_TIME, _c("strategy", "text"), _SYMBOL, _c("size"), _c("avg_price", nullable=True),
     _c("unrealized_pnl"), _AVAILABLE, _RUN),
    key=("time", "strategy", "symbol"),
)

METRICS = Table(
    "metrics",
    (_TIME, _c("strategy", "text"), _c("name", "text"), _c("value", nullable=True),
     _AVAILABLE, _RUN),
    key=("time", "strategy", "name"),
)

ACCOUNT_SNAPSHOTS = Table(
    "account_snapshots",
    (_TIME, _c("account", "text"), _c("balance"), _c("equity"),
     _c("margin_used", non_negative=True), _AVAILABLE, _RUN),
    key=("time", "account"),
)

FACT_TABLES: dict[str, Table] = {
    t.name: t
    for t in (OHLCV, TICKS, SENTIMENT_SCORES, MACRO_INDICATORS, REGIME_PREDICTIONS,
              STATE_VECTORS, TRADES, POSITIONS, METRICS, ACCOUNT_SNAPSHOTS)
}

# Bid/ask snapshots the streaming sidecar polls every 1-5 s (revision 0006): time = when the
# snapshot was taken, depth = order book levels where the bridge offers them.
QUOTES = Table(
    "quotes",
    (_SYMBOL, _TIME, _c("bid", positive=True), _c("ask", positive=True),
     _c("spread", non_negative=True), _c("depth", "jsonb", nullable=True), _AVAILABLE),
    key=("symbol", "time"),
)
FACT_TABLES[QUOTES.name] = QUOTES

# The plain table of migration 0001 (not a hypertable: no `time`), for the writers.
INSIDER_TRANSACTIONS = Table(
    "insider_transactions",
    (_c("accession", "text"), _c("line", "int4"), _c("issuer_cik", "text"),
     _c("issuer", "text", nullable=True), _c("owner", "text", nullable=True),
     _c("security", "text", nullable=True), _c("derivative", "bool"),
     _c("transaction_date", "date"), _c("code", "text", nullable=True),
     _c("shares", nullable=True, non_negative=True), _c("price", nullable=True,
                                                        non_negative=True),
     _c("acquired_disposed", "text", nullable=True),
     _c("owned_after", nullable=True, non_negative=True), _c("filed_at", "timestamptz"),
     _c("available_at", "timestamptz")),
    key=("accession", "line"),
)

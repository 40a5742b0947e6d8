"""Summaries: ohlcv_1h, ohlcv_1d, hourly_sentiment_summary, daily_trading_summary.

One SELECT per summary, rendered for each backend from the same template:
- TimescaleDB: a continuous aggregate (materialized only) with a refresh policy.
- PostgreSQL: a table with the same columns and key, and `underdog.refresh_<name>(start,
  end)` that rewrites the buckets in [start, end) in one transaction.
`underdog.store.aggregates.refresh` calls whichever exists, on bucket-aligned windows, so both
give the same rows. Buckets are UTC (`date_bin` with the same origin as `time_bucket`).

Revision ID: 0003
Revises: 0002
"""

from alembic import op
from sqlalchemy import text

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OHLCV = """
SELECT symbol, {bucket} AS time,
       {first_open} AS open, max(high) AS high, min(low) AS low, {last_close} AS close,
       sum(volume)::bigint AS volume,
       sum(spread * volume) / nullif(sum(volume), 0) AS spread,
       count(*)::bigint AS bars
FROM underdog.ohlcv {where}
GROUP BY symbol, {bucket}
"""

SENTIMENT = """
SELECT symbol, source, {bucket} AS time,
       sum(sentiment * confidence) / nullif(sum(confidence), 0) AS sentiment,
       stddev_samp(sentiment) AS sentiment_std,
       avg(confidence) AS confidence,
       count(*)::bigint AS n
FROM underdog.sentiment_scores {where}
GROUP BY symbol, source, {bucket}
"""

TRADES = """
SELECT strategy, {bucket} AS time,
       count(*)::bigint AS trades,
       count(*) FILTER (WHERE pnl > 0)::bigint AS wins,
       (count(*) FILTER (WHERE pnl > 0))::double precision / count(*) AS win_rate,
       sum(pnl) AS pnl,
       sum(commission) AS commission
FROM underdog.trades {where}
GROUP BY strategy, {bucket}
"""

# name: (select template, bucket width, key columns, plain-table columns, policy offsets)
AGGREGATES = {
    "ohlcv_1h": (OHLCV, "1 hour", "symbol, time",
                 "symbol text, time timestamptz, open float8, high float8, low float8,"
                 " close float8, volume bigint, spread float8, bars bigint",
                 ("3 days", "1 hour", "15 minutes")),
    "ohlcv_1d": (OHLCV, "1 day", "symbol, time",
                 "symbol text, time timestamptz, open float8, high float8, low float8,"
                 " close float8, volume bigint, spread float8, bars bigint",
                 ("7 days", "1 day", "1 hour")),
    "hourly_sentiment_summary": (SENTIMENT, "1 hour", "symbol, source, time",
                                 "symbol text, source text, time timestamptz,"
                                 " sentiment float8, sentiment_std float8,"
                                 " confidence float8, n bigint",
                                 ("3 days", "1 hour", "15 minutes")),
    "daily_trading_summary": (TRADES, "1 day", "strategy, time",
                              "strategy text, time timestamptz, trades bigint, wins bigint,"
                              " win_rate float8, pnl float8, commission float8",
                              ("7 days", "1 day", "1 hour")),
}

ORIGIN = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"  # time_bucket's default origin (a Monday)


def render(template: str, width: str, *, timescale: bool, where: str = "") -> str:
    if timescale:
        parts = {"bucket": f"time_bucket(INTERVAL '{width}', time)",
                 "first_open": "first(open, time)", "last_close": "last(close, time)"}
    else:
        parts = {"bucket": f"date_bin(INTERVAL '{width}', time, {ORIGIN})",
                 "first_open": "(array_agg(open ORDER BY time))[1]",
                 "last_close": "(array_agg(close ORDER BY time DESC))[1]"}
    return template.format(where=where, **parts)


def continuous_aggregate(name: str, spec: tuple) -> list[str]:
    template, width, _key, _columns, (start, end, every) = spec
    select = render(template, width, timescale=True)
    return [
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS underdog.{name} WITH"
        f" (timescaledb.continuous, timescaledb.materialized_only = true) AS {select}"
        " WITH NO DATA",
        f"SELECT add_continuous_aggregate_policy('underdog.{name}',"
        f" start_offset => INTERVAL '{start}', end_offset => INTERVAL '{end}',"
        f" schedule_interval => INTERVAL '{every}', if_not_exists => TRUE)",
    ]


def plain_aggregate(name: str, spec: tuple) -> list[str]:
    template, width, key, columns, _policy = spec
    select = render(template, width, timescale=False,
                    where="WHERE time >= window_start AND time < window_end")
    return [
        f"CREATE TABLE IF NOT EXISTS underdog.{name} ({columns}, PRIMARY KEY ({key}))",
        f"""CREATE OR REPLACE FUNCTION underdog.refresh_{name}(
                window_start timestamptz, window_end timestamptz) RETURNS bigint
            LANGUAGE plpgsql AS $$
            DECLARE n bigint;
            BEGIN
                DELETE FROM underdog.{name} WHERE time >= window_start AND time < window_end;
                INSERT INTO underdog.{name} {select};
                GET DIAGNOSTICS n = ROW_COUNT;
                RETURN n;
            END $$""",
    ]


def upgrade(**context) -> None:
    timescale = op.get_bind().execute(
        text("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")
    ).scalar()
    if not timescale:
        for name, spec in AGGREGATES.items():
            for statement in plain_aggregate(name, spec):
                op.execute(statement)
        return
    # Continuous aggregates cannot be created inside a transaction.
    with op.get_context().autocommit_block():
        for name, spec in AGGREGATES.items():
            for statement in continuous_aggregate(name, spec):
                op.execute(statement)

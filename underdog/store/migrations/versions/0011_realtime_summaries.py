"""Real-time summaries on TimescaleDB: the continuous aggregates answer past their last refresh.

0003 made them materialized only, so `ohlcv_1h` ended at the last refresh (up to an hour of
bars behind the policy). Real-time aggregation adds the buckets after the refresh watermark,
computed from the hypertable at query time; refreshed buckets read as before, and after a
refresh both backends hold the same rows. Plain PostgreSQL's summary tables are unchanged.

Revision ID: 0011
Revises: 0007
"""

from alembic import op
from sqlalchemy import text

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SUMMARIES = ("ohlcv_1h", "ohlcv_1d", "hourly_sentiment_summary", "daily_trading_summary")


def statements() -> list[str]:
    return [f"ALTER MATERIALIZED VIEW underdog.{name} SET (timescaledb.materialized_only = false)"
            for name in SUMMARIES]


def upgrade(**context) -> None:
    caggs = op.get_bind().execute(text(
        "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")).scalar()
    if caggs:
        for statement in statements():
            op.execute(statement)

"""TimescaleDB: hypertables, columnstore, columnstore and retention policies.

Runs only when the server has TimescaleDB (preloaded) and the `timescale` setting is not
"off"; with "on" a server without it is an error. On plain PostgreSQL this revision changes
nothing: the tables of 0001 already have the same columns and keys, and retention runs as
`underdog.apply_retention()`.

Revision ID: 0002
Revises: 0001
"""

from alembic import op
from sqlalchemy import text

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# table: (chunk interval, segment by, columnstore after); retention comes from
# underdog.retention_policies (0001), so both backends keep the same windows.
HYPERTABLES = {
    "ohlcv": ("1 day", "symbol", "30 days"),
    "ticks": ("1 day", "symbol", "7 days"),
    "sentiment_scores": ("1 day", "symbol", "60 days"),
    "macro_indicators": ("7 days", "series_id", "180 days"),
    "regime_predictions": ("1 day", "symbol", "90 days"),
    "state_vectors": ("1 day", "symbol", "30 days"),
    "trades": ("1 day", "strategy", "90 days"),
    "positions": ("1 day", "strategy", "90 days"),
    "metrics": ("1 day", "strategy", "90 days"),
    "account_snapshots": ("1 day", "account", "90 days"),
}


def timescale_wanted(mode: str) -> bool:
    bind = op.get_bind()
    available = bind.execute(
        text("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'")
    ).scalar()
    # Only a superuser (or pg_read_all_settings) sees the setting. A migrating owner that may
    # not sees TimescaleDB installed by `underdog db create`, which needs it preloaded.
    setting = bind.execute(text("SELECT setting FROM pg_settings"
                                " WHERE name = 'shared_preload_libraries'")).scalar()
    preloaded = "timescaledb" in setting if setting is not None else bool(bind.execute(
        text("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")).scalar())
    if mode == "on" and not (available and preloaded):
        raise RuntimeError(
            "UNDERDOG_TIMESCALE=on but this server has no TimescaleDB "
            f"(available={bool(available)}, in shared_preload_libraries={preloaded})"
        )
    return mode != "off" and bool(available) and preloaded


def hypertable_statements(table: str, chunk: str, segment_by: str, after: str) -> list[str]:
    name = f"underdog.{table}"
    return [
        f"SELECT create_hypertable('{name}', by_range('time', INTERVAL '{chunk}'),"
        " if_not_exists => TRUE, migrate_data => TRUE)",
        f"ALTER TABLE {name} SET (timescaledb.enable_columnstore = true,"
        f" timescaledb.segmentby = '{segment_by}', timescaledb.orderby = 'time DESC')",
        f"CALL add_columnstore_policy('{name}', after => INTERVAL '{after}',"
        " if_not_exists => TRUE)",
        f"SELECT add_retention_policy('{name}', drop_after => (SELECT keep FROM"
        f" underdog.retention_policies WHERE table_name = '{table}'), if_not_exists => TRUE)",
    ]


def statements() -> list[str]:
    out = ["CREATE EXTENSION IF NOT EXISTS timescaledb"]
    for table, spec in HYPERTABLES.items():
        out += hypertable_statements(table, *spec)
    return out


def upgrade(timescale: str = "auto", **context) -> None:
    if not timescale_wanted(timescale):
        return
    for statement in statements():
        op.execute(statement)

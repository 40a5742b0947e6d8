"""`quotes`: the bid/ask (and order book depth) snapshots the streaming sidecar polls.

One row per symbol and snapshot (every 1-5 s): `time` is when the snapshot was taken, `depth`
the book levels where the bridge offers them (NULL otherwise), `available_at` when the
sidecar had it. Kept 90 days (a `retention_policies` row, so both backends use the same
window). On TimescaleDB (the extension installed by 0002, checked in `pg_extension` as 0003
does) it is a hypertable with 1-day chunks, made by 0002's own `hypertable_statements`.

Revision ID: 0006
Revises: 0005
"""

import importlib.util
import re
from pathlib import Path

from alembic import op
from sqlalchemy import text

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

QUOTES = """
CREATE TABLE IF NOT EXISTS underdog.quotes (
    symbol        text             NOT NULL,
    time          timestamptz      NOT NULL,
    bid           double precision NOT NULL,
    ask           double precision NOT NULL,
    spread        double precision NOT NULL,
    depth         jsonb,
    available_at  timestamptz      NOT NULL,
    PRIMARY KEY (symbol, time)
);
COMMENT ON TABLE underdog.quotes IS
    'bid/ask snapshots polled by the streamer; time = snapshot time; depth = book levels or NULL';
INSERT INTO underdog.retention_policies (table_name, keep) VALUES ('quotes', '90 days')
ON CONFLICT (table_name) DO NOTHING;
"""
# (chunk interval, segment by, columnstore after), as 0002's HYPERTABLES rows.
HYPERTABLE = ("1 day", "symbol", "7 days")


def _timescale_revision():
    """0002 by its path: a revision module's name starts with a digit, so no plain import."""
    path = Path(__file__).with_name("0002_timescale.py")
    spec = importlib.util.spec_from_file_location("underdog_revision_0002", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def statements(timescale: bool) -> list[str]:
    out = [QUOTES]
    if timescale:
        out += _timescale_revision().hypertable_statements("quotes", *HYPERTABLE)
    return out


def upgrade(timescale: str = "auto", reader_role: str = "underdog_reader", **context) -> None:
    installed = op.get_bind().execute(
        text("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")
    ).scalar()
    for statement in statements(timescale != "off" and bool(installed)):
        op.execute(statement)
    # 0004's default privileges cover tables its user creates; grant anyway, idempotently.
    if re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", reader_role):
        op.execute(f"GRANT SELECT ON underdog.quotes TO {reader_role}")

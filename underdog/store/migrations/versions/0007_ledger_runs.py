"""The backtest ledger names its run: `run_id` on trades, positions, metrics, account_snapshots.

An evaluation writes its books under strategy (or account) `td3:<policy version>` and the run
that wrote them (the Dagster run id, or the CLI's). Rerunning the evaluation of one policy
replaces its rows in the test window, so the key stays as 0001 made it. A nullable column
without a default: allowed on TimescaleDB hypertables with the columnstore enabled.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LEDGER = ("trades", "positions", "metrics", "account_snapshots")


def upgrade(**context) -> None:
    for table in LEDGER:
        op.execute(f"ALTER TABLE underdog.{table} ADD COLUMN IF NOT EXISTS run_id text")
        op.execute(f"COMMENT ON COLUMN underdog.{table}.run_id IS"
                   " 'the run (Dagster run id or CLI run) that wrote the row'")

"""The read-only role that serving reads run as (a login since 0008, see underdog.store.db).

Revision ID: 0004
Revises: 0003
"""

import re

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade(reader_role: str = "underdog_reader", **context) -> None:
    # A role name cannot be a bind parameter; accept only a plain identifier.
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", reader_role):
        raise ValueError(f"UNDERDOG_READER_ROLE must be a lower-case identifier: {reader_role!r}")
    # Created only where missing: a migrating writer may not create roles (0008, `db create`).
    op.execute(f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{reader_role}') THEN
                CREATE ROLE {reader_role} NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$""")
    op.execute(f"GRANT USAGE ON SCHEMA underdog TO {reader_role}")
    op.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA underdog TO {reader_role}")
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA underdog GRANT SELECT ON TABLES TO {reader_role}"
    )

"""Serving reads log in as the reader role instead of `SET ROLE` on a writer's session.

A `SET ROLE` is undone by `RESET ROLE`; a login role is not. The reader becomes a LOGIN role
without superuser powers or memberships, read-only by default, with SELECT grants only.
In this database PUBLIC also loses what it has by default and could write with: EXECUTE on
the schema's functions (refresh, retention), TEMPORARY (temp tables) and large objects. The
owner keeps them. Role attributes are cluster-wide: `ensure_reader` is idempotent.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

from underdog.store.roles import checked_role, close_public_writes, ensure_reader

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade(reader_role: str = "underdog_reader", reader_password: str | None = None,
            **context) -> None:
    role = checked_role(reader_role)
    conn = op.get_bind().connection.driver_connection  # psycopg, in the migration's transaction
    ensure_reader(conn, role, password=reader_password)
    op.execute(f"GRANT USAGE ON SCHEMA underdog TO {role}")
    op.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA underdog TO {role}")
    op.execute("REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA underdog FROM PUBLIC")
    # and the functions later migrations create (by the same migrating role)
    op.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA underdog REVOKE EXECUTE ON FUNCTIONS"
               " FROM PUBLIC")
    close_public_writes(conn)

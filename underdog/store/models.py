"""The model registry: versioned model parameters, stored and reloadable."""

from __future__ import annotations

from datetime import datetime

from psycopg.types.json import Jsonb

from underdog.store.db import Database


def save_model(db: Database, name: str, version: str, params: dict, *,
               train_start: datetime | None = None, train_end: datetime | None = None,
               metrics: dict | None = None, artifact: bytes | None = None) -> None:
    """Insert or replace one version (refitting a version replaces it)."""
    with db.connection() as conn, conn.transaction():
        conn.execute(
            "INSERT INTO underdog.model_registry"
            " (name, version, train_start, train_end, params, metrics, artifact)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (name, version) DO UPDATE SET"
            " created_at = now(), train_start = EXCLUDED.train_start,"
            " train_end = EXCLUDED.train_end, params = EXCLUDED.params,"
            " metrics = EXCLUDED.metrics, artifact = EXCLUDED.artifact",
            (name, version, train_start, train_end, Jsonb(params), Jsonb(metrics or {}),
             artifact),
        )


def load_model(db: Database, name: str, version: str) -> dict | None:
    """The stored parameters of one version, or None."""
    with db.reader() as conn:
        row = conn.execute(
            "SELECT params FROM underdog.model_registry WHERE name = %s AND version = %s",
            (name, version),
        ).fetchone()
    return row[0] if row else None


def find_model(db: Database, name: str, *, symbol: str,
               version: str | None = None) -> tuple[str, dict, bytes] | None:
    """(version, params, artifact) of `name`'s newest version whose params name `symbol`
    (only `version`, when given), or None."""
    query = ("SELECT version, params, artifact FROM underdog.model_registry"
             " WHERE name = %s AND params->>'symbol' = %s")
    args: list[object] = [name, symbol]
    if version:
        query += " AND version = %s"
        args.append(version)
    with db.reader() as conn:
        return conn.execute(query + " ORDER BY created_at DESC LIMIT 1", args).fetchone()

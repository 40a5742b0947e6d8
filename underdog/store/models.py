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

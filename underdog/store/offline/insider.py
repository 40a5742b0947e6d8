"""SQL on `insider_transactions` beyond the writers (`underdog.insider.transactions` calls it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from underdog.store.db import Database


def first_seen(db: Database, accessions: Sequence[str]) -> dict[tuple[str, int], datetime]:
    """(accession, line) -> filed_at of the stored rows of these accessions. It decides what
    is written: read on the primary, never a replica that lacks a row."""
    with db.primary_reader() as conn:
        rows = conn.execute("SELECT accession, line, filed_at FROM underdog.insider_transactions"
                            " WHERE accession = ANY(%s)", (list(accessions),)).fetchall()
    return {(accession, line): filed_at for accession, line, filed_at in rows}

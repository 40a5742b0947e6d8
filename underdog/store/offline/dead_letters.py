"""Dead letters: what a writer refused or a fetcher could not read, kept in
`underdog.dead_letters` with its reason and payload (a log: a rerun adds its own rows).

Every dead letter goes through `copy_into` (inside a caller's transaction, so the rejects
commit with the rows they were cut from) or `write` (a transaction of their own).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import psycopg
from psycopg.types.json import Jsonb

from underdog.store.db import Database

COPY = "COPY underdog.dead_letters (source, target_table, reason, payload) FROM STDIN"


class DeadLetter(NamedTuple):
    source: str  # who produced the row: a source ("dukascopy"), a bridge protocol ("mql5")
    target_table: str
    reason: str
    payload: object  # JSON-serialisable: the row or failure as received


def copy_into(cur: psycopg.Cursor, letters: Iterable[DeadLetter | tuple]) -> int:
    """COPY `letters` ((source, target_table, reason, payload) each) on `cur`: how many."""
    count = 0
    with cur.copy(COPY) as copy:
        for source, target_table, reason, payload in letters:
            copy.write_row((source, target_table, reason, Jsonb(payload)))
            count += 1
    return count


def write(db: Database, letters: Iterable[DeadLetter | tuple]) -> int:
    """`copy_into` in a transaction of its own (nothing else to commit with them)."""
    letters = list(letters)
    if not letters:
        return 0
    with db.connection() as conn, conn.transaction(), conn.cursor() as cur:
        return copy_into(cur, letters)

"""Every SQL statement on `underdog.*` tables lives in `underdog/store/` (issue 15).

A line outside the store that reads like SQL on the schema (a keyword that takes a relation,
then `underdog.`) fails the test with its file:line. Prose that merely names a table
("rows of underdog.ohlcv") does not match: the keyword must be an upper-case SQL one.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("underdog", "underdog_cli", "underdog_assets", "underdog_streaming")
STORE = Path("underdog/store")
SQL_ON_SCHEMA = re.compile(
    r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE|COPY|USING)\s+(?:ONLY\s+)?underdog\.[\w{]"
    r"|sql\.Identifier\(\s*[\"']underdog[\"']"  # a statement composed with psycopg.sql
    r"|\.execute(?:many)?\(")  # any statement run outside the store

def sql_lines() -> dict[str, list[str]]:
    """file -> ["file:line: text", ...] of SQL on `underdog.*` outside the store."""
    found: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative.is_relative_to(STORE):
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if SQL_ON_SCHEMA.search(line):
                    found.setdefault(relative.as_posix(), []).append(
                        f"{relative.as_posix()}:{number}: {line.strip()}")
    return found


def test_the_pattern_matches_sql_and_not_prose_or_imports() -> None:
    assert SQL_ON_SCHEMA.search('"SELECT max(time) FROM underdog.ohlcv WHERE symbol = %s"')
    assert SQL_ON_SCHEMA.search('f"SELECT count(*) FROM underdog.{name} WHERE time >= %s"')
    assert SQL_ON_SCHEMA.search('"INSERT INTO underdog.dead_letters (source) VALUES (%s)"')
    assert SQL_ON_SCHEMA.search('" JOIN underdog.ohlcv o ON o.symbol = s.symbol"')
    assert SQL_ON_SCHEMA.search('table = sql.Identifier("underdog", feed.table)')
    assert SQL_ON_SCHEMA.search('conn.execute("SELECT 1")')
    assert not SQL_ON_SCHEMA.search("from underdog.store.db import Database")
    assert not SQL_ON_SCHEMA.search("The view underdog.tick_values gives the columns back.")


def test_no_sql_on_underdog_tables_outside_the_store() -> None:
    found = sql_lines()
    stray = [line for lines in found.values() for line in lines]
    assert not stray, "SQL on underdog.* outside underdog/store/:\n" + "\n".join(stray)

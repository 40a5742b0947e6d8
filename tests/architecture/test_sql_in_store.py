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
    r"|sql\.Identifier\(\s*[\"']underdog[\"']")  # a statement composed with psycopg.sql

# Still to move, owned by R2 (sentiment, macro, insider, agent, ops SQL). The merger empties
# this set once R2 has landed; a file listed here that no longer holds SQL fails the test,
# so the set cannot outlive its reason.
PENDING = {
    "underdog/agent/data.py",
    "underdog/agent/policies.py",
    "underdog/insider/transactions.py",
    "underdog/macro/vintages.py",
    "underdog/ops/freshness.py",
    "underdog/ops/health.py",
    "underdog/sentiment/audits.py",
    "underdog/sentiment/pipeline.py",
    "underdog_assets/defs/agent/assets.py",
    "underdog_assets/defs/sentiment/assets.py",
    "underdog_cli/report.py",
}


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
    assert not SQL_ON_SCHEMA.search("from underdog.store.db import Database")
    assert not SQL_ON_SCHEMA.search("The view underdog.tick_values gives the columns back.")


def test_no_sql_on_underdog_tables_outside_the_store() -> None:
    found = sql_lines()
    stray = [line for path, lines in sorted(found.items()) if path not in PENDING
             for line in lines]
    assert not stray, "SQL on underdog.* outside underdog/store/:\n" + "\n".join(stray)


def test_every_pending_file_still_holds_sql() -> None:
    moved = sorted(PENDING - set(sql_lines()))
    assert not moved, f"no SQL left in {moved}: take them out of PENDING"

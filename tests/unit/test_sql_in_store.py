"""Every SQL statement on `underdog.*` tables lives in `underdog/store/` (issue 15).

Checked on the source text of the rooms below: no statement naming an `underdog.` relation,
no identifier built on the schema, no statement run on a connection or cursor. The domain
code calls store functions with plain values instead. (Market, features and the streamer
join this list when their SQL has moved too.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROOMS = (
    "underdog/sentiment", "underdog/macro", "underdog/insider", "underdog/agent",
    "underdog/ops", "underdog/sources", "underdog_cli", "underdog_assets/defs/agent",
    "underdog_assets/defs/macro", "underdog_assets/defs/sentiment",
    "underdog_assets/defs/common",
)
SQL = {
    "a statement on an underdog table": re.compile(
        r"\b(FROM|INTO|JOIN|UPDATE|TABLE|COPY)\s+\{?underdog\.\w"),
    "an identifier in the underdog schema": re.compile(r"Identifier\(\s*[\"']underdog[\"']"),
    "a statement run outside the store": re.compile(r"\.execute(many)?\("),
}


def _modules() -> list[Path]:
    return sorted(p for room in ROOMS for p in (ROOT / room).rglob("*.py"))


def test_the_rooms_hold_modules() -> None:
    assert all((ROOT / room).is_dir() for room in ROOMS)
    assert len(_modules()) > 50


@pytest.mark.parametrize("kind", sorted(SQL))
def test_no_sql_outside_the_store(kind: str) -> None:
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for path in _modules()
             for n, line in enumerate(path.read_text().splitlines(), start=1)
             if SQL[kind].search(line)]
    assert not found, f"{kind} outside underdog/store/:\n" + "\n".join(found)

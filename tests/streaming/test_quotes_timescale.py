"""Revision 0006 (`quotes`) on real TimescaleDB DDL (PGlite + TimescaleDB, as
tests/store/test_timescale_pglite.py runs 0001-0004): a hypertable with 1-day chunks, the
columnstore and retention policies of the other fact tables, idempotent on a second run."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tests" / "timescale" / "run_sql.mjs"
VERSIONS = ROOT / "underdog" / "store" / "migrations" / "versions"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None or not (RUNNER.parent / "node_modules").is_dir(),
    reason="needs node and PGlite+TimescaleDB: run `npm ci --prefix tests/timescale`",
)


def revision(stem: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"underdog_revision_{stem}", VERSIONS /
                                                  f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quotes_is_a_hypertable_with_the_fact_table_policies() -> None:
    tables, timescale = revision("0001_tables"), revision("0002_timescale")
    quotes = revision("0006_quotes").statements(timescale=True)
    steps = ["CREATE SCHEMA IF NOT EXISTS underdog", tables.FACT_TABLES, tables.PLAIN_TABLES,
             tables.RETENTION, *timescale.statements(), *quotes, *quotes]
    checks = [
        "SELECT d.column_name, extract(epoch FROM d.time_interval) AS chunk_s"
        " FROM timescaledb_information.dimensions d WHERE d.hypertable_name = 'quotes'",
        "SELECT proc_name, extract(epoch FROM (config->>'compress_after')::interval) AS after_s,"
        " extract(epoch FROM (config->>'drop_after')::interval) AS drop_s"
        " FROM timescaledb_information.jobs WHERE hypertable_name = 'quotes' ORDER BY 1",
        "SELECT segmentby, orderby FROM timescaledb_information.hypertable_columnstore_settings"
        " WHERE hypertable::text = 'underdog.quotes'",
        "INSERT INTO underdog.quotes VALUES ('EURUSD', '2024-01-05 10:00:01+00', 1.1, 1.1002,"
        " 0.0002, '{\"bids\": [[1.1, 1.0]]}', '2024-01-05 10:00:01+00') RETURNING depth",
    ]
    plan = [{"sql": s, "fetch": False} for s in steps] + [{"sql": s, "fetch": True}
                                                         for s in checks]
    done = subprocess.run([NODE, str(RUNNER)], input=json.dumps({"steps": plan}),
                          capture_output=True, text=True, timeout=300)
    out = json.loads(done.stdout)
    assert done.returncode == 0, [r for r in out if not r["ok"]]
    dimension, jobs, settings, inserted = (r["rows"] for r in out[len(steps):])
    assert dimension == [{"column_name": "time", "chunk_s": 86_400}]
    assert [(j["proc_name"], j["after_s"], j["drop_s"]) for j in jobs] == [
        ("policy_compression", 7 * 86_400, None), ("policy_retention", None, 90 * 86_400)]
    assert settings == [{"segmentby": "symbol", "orderby": '"time" DESC'}]
    assert inserted == [{"depth": {"bids": [[1.1, 1.0]]}}]

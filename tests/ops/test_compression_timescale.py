"""The compression figures of `underdog health` and the exporter, on real TimescaleDB.

TimescaleDB is not packaged here; PGlite with TimescaleDB 2.23 (tests/timescale) runs the very
query text of `underdog.store.offline.health.compression_query` on a hypertable with
compressed chunks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from underdog.store.offline.health import HYPERTABLES, TableStorage, compression_query

RUNNER = Path(__file__).resolve().parents[2] / "tests" / "timescale" / "run_sql.mjs"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(
    NODE is None or not (RUNNER.parent / "node_modules").is_dir(),
    reason="needs node and PGlite+TimescaleDB: run `npm ci --prefix tests/timescale`")

SETUP = """
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE SCHEMA underdog;
CREATE TABLE underdog.ohlcv (symbol text NOT NULL, time timestamptz NOT NULL,
    close double precision NOT NULL, volume bigint NOT NULL, PRIMARY KEY (symbol, time));
SELECT create_hypertable('underdog.ohlcv', by_range('time', INTERVAL '1 day'));
INSERT INTO underdog.ohlcv
SELECT s, t, 1.1 + 0.0001 * (extract(epoch FROM t)::bigint % 97), 10
FROM unnest(ARRAY['EURUSD', 'GBPUSD']) s,
     generate_series('2024-01-01'::timestamptz, '2024-01-04'::timestamptz - INTERVAL '1 minute',
                     INTERVAL '1 minute') t;
ALTER TABLE underdog.ohlcv SET (timescaledb.enable_columnstore = true,
    timescaledb.segmentby = 'symbol', timescaledb.orderby = 'time DESC');
"""


def run(*steps: str) -> list[dict]:
    plan = {"steps": [{"sql": step, "fetch": True} for step in steps]}
    done = subprocess.run([NODE, str(RUNNER)], input=json.dumps(plan), capture_output=True,
                          text=True, timeout=180, cwd=RUNNER.parent, check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    return json.loads(done.stdout)


def test_compression_ratio_of_a_hypertable_with_compressed_chunks() -> None:
    query = compression_query("ohlcv")
    out = run(SETUP, HYPERTABLES, query,
              "SELECT count(compress_chunk(c)) FROM show_chunks('underdog.ohlcv') c", query)
    assert [r["hypertable_name"] for r in out[1]["rows"]] == ["ohlcv"]
    [before] = out[2]["rows"]
    [after] = out[4]["rows"]
    assert before["total_chunks"] == 3 and before["number_compressed_chunks"] == 0
    stored = TableStorage("ohlcv", after["hypertable_size"], after["total_chunks"],
                          after["number_compressed_chunks"],
                          after["before_compression_total_bytes"],
                          after["after_compression_total_bytes"])
    assert stored.compressed_chunks == 3 and stored.chunks == 3
    assert stored.compression_ratio is not None and stored.compression_ratio > 1.0
    assert TableStorage("ohlcv", 1, 3, 0, None, None).compression_ratio is None

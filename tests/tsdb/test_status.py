"""`underdog db status` and `underdog health` report the server's chunks and compression."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from tests.conftest import REDIS_URL
from tests.tsdb.conftest import chunks, run_jobs
from underdog.config import get_settings
from underdog.market.backfill import backfill_bars
from underdog.store.db import Database
from underdog.store.status import table_status
from underdog_cli.app import app

DAY = datetime(2024, 3, 12, tzinfo=UTC)


@pytest.fixture
def compressed(timescale: Database, dsn: str, redis_prefix: str,
               monkeypatch: pytest.MonkeyPatch) -> tuple[int, int, float]:
    """Three days of bars in the columnstore (one 7-day chunk, revision 0012: 2024-03-07 to
    03-14) and one day in the rowstore chunk of yesterday; the server's (chunks, compressed
    chunks, before / after bytes) of ohlcv."""
    backfill_bars(timescale, ["EURUSD"], DAY - timedelta(days=2), DAY + timedelta(days=1),
                  seed=1)
    run_jobs(timescale, "policy_compression", ["ohlcv"])
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    backfill_bars(timescale, ["EURUSD"], today - timedelta(days=1), today, seed=2)
    with timescale.connection() as conn:
        before, after = conn.execute(
            "SELECT before_compression_total_bytes, after_compression_total_bytes"
            " FROM hypertable_compression_stats('underdog.ohlcv')").fetchone()
    ohlcv = chunks(timescale, "ohlcv")
    monkeypatch.setenv("UNDERDOG_DATABASE_URL", dsn)
    monkeypatch.setenv("UNDERDOG_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("UNDERDOG_REDIS_PREFIX", f"{redis_prefix}:status")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # rich's tables: one line per table
    get_settings.cache_clear()
    yield len(ohlcv), sum(c[2] for c in ohlcv), before / after
    get_settings.cache_clear()


def test_db_status_shows_the_chunks_and_compression_of_the_server(
        timescale: Database, compressed: tuple[int, int, float]) -> None:
    total, packed, ratio = compressed
    assert (total, packed) == (2, 1) and ratio > 1
    status = {s.name: s for s in table_status(timescale)}
    ohlcv = status["ohlcv"]
    assert (ohlcv.chunks, ohlcv.compressed_chunks) == (total, packed)
    assert ohlcv.compression_ratio == pytest.approx(ratio)
    assert (status["ticks"].chunks, status["ticks"].compressed_chunks) == (0, 0)
    result = CliRunner().invoke(app, ["db", "status"])
    assert result.exit_code == 0, result.output
    [line] = [row for row in result.output.splitlines() if re.search(r"\bohlcv\b", row)]
    assert f"{total} ({packed} compressed)" in line and f"{ratio:.1f}x" in line
    assert "(TimescaleDB)" in result.output


def test_health_reports_the_compression_of_the_server(
        timescale: Database, compressed: tuple[int, int, float]) -> None:
    total, packed, ratio = compressed
    report = json.loads(CliRunner().invoke(app, ["health", "--json", "--no-dagster"]).stdout)
    assert report["backend"] == "TimescaleDB"
    storage = {s["table"]: s for s in report["storage"]}
    assert (storage["ohlcv"]["chunks"], storage["ohlcv"]["compressed_chunks"]) == (total, packed)
    assert storage["ohlcv"]["compression_ratio"] == pytest.approx(ratio)
    text = CliRunner().invoke(app, ["health", "--no-dagster"]).output
    assert f"compression: ohlcv {ratio:.1f}x" in text

"""The real command line in a subprocess: `underdog-streamer run` serves its metrics, and
SIGTERM makes it flush everything it received and exit 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from tests.conftest import RedisTarget
from tests.helpers import free_port
from tests.streaming.conftest import (
    SYMBOLS,
    count,
    free_ports,
    scrape,
    streamer_command,
    wait_until,
)
from underdog.store.db import Database
from underdog_streaming.fake_bridge import FakeBridge

ON_BOTH_REDIS = True  # also with UNDERDOG_REDIS_CLUSTER=true against a Redis Cluster


def test_metrics_then_sigterm_flushes_and_exits_0(db: Database, dsn: str, prefix: str,
                                                   redis_target: RedisTarget,
                                                   tmp_path: Path) -> None:
    ports = free_ports()
    bridge = FakeBridge(ports=ports, rate=300, symbols=SYMBOLS).start()  # never stops sending
    metrics_port = free_port()
    env = {**os.environ, "UNDERDOG_DATABASE_URL": dsn, "UNDERDOG_REDIS_URL": redis_target.url,
           "UNDERDOG_REDIS_CLUSTER": str(redis_target.cluster).lower(),
           "UNDERDOG_REDIS_PREFIX": prefix, "UNDERDOG_SYMBOLS": ",".join(SYMBOLS)}
    proc = subprocess.Popen(
        [*streamer_command(), "run", "--protocol", "mql5", "--host", "127.0.0.1",
         "--sys-port", str(ports.sys), "--data-port", str(ports.data),
         "--live-port", str(ports.live), "--metrics-port", str(metrics_port),
         "--spool-dir", str(tmp_path / "spool"), "--server-utc-offset-hours", "0"],
        env=env, stderr=subprocess.PIPE, text=True)
    try:
        def written() -> float:
            try:
                return scrape(metrics_port).get("underdog_stream_ticks_written_total", 0)
            except OSError:
                return 0
        assert wait_until(lambda: written() > 100, 30), "no ticks written"
        metrics = scrape(metrics_port)
        for name in ("underdog_stream_ticks_received_total", "underdog_stream_ticks_written_total",
                     "underdog_stream_ticks_spooled_total", "underdog_stream_quotes_polled_total",
                     "underdog_stream_tick_to_redis_seconds_count",
                     "underdog_stream_tick_to_db_seconds_count", "underdog_stream_db_up"):
            assert name in metrics, name
        assert metrics["underdog_stream_tick_to_db_seconds_count"] > 0
        assert metrics["underdog_stream_tick_to_redis_seconds_count"] > 0
        assert metrics["underdog_stream_ticks_received_total"] >= (
            metrics["underdog_stream_ticks_written_total"])

        proc.send_signal(signal.SIGTERM)  # mid-stream: a batch is always pending
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        bridge.stop()
    assert proc.returncode == 0, stderr
    summary = json.loads(stderr.rsplit("stopped: ", 1)[1].splitlines()[0])
    # Everything received and valid was written before the exit.
    assert summary["ticks_accepted"] == summary["written"] > 0
    assert count(dsn, "SELECT count(*) FROM underdog.ticks") == summary["written"]
    assert count(dsn, "SELECT sum(volume) FROM underdog.ohlcv") == summary["written"]

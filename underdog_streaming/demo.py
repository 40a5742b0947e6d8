"""The streaming part of `underdog demo`: a fake bridge and the streamer, for a few seconds.

`run_demo(seconds)` starts a fake MQL5-JSON-API bridge (threads, free local ports, simulated
prices stamped now) and a streamer writing to the configured database and Redis (the
migrations must have run: `underdog db upgrade`), lets them run, stops the streamer cleanly
and returns what happened. The ticks, M1 bars and quotes it writes are real rows of today
(source "mql5"), as a live stream's would be.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from underdog.config import Settings, get_settings
from underdog.reference.instruments import INSTRUMENTS
from underdog.store.online.cache import latest_key
from underdog_streaming.config import StreamConfig
from underdog_streaming.fake_bridge import BridgePorts, FakeBridge
from underdog_streaming.health import KEY
from underdog_streaming.streamer import Streamer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_demo(seconds: float = 5.0, *, settings: Settings | None = None, rate: float = 500.0,
             protocol: str = "mql5", replay_from: datetime | None = None) -> dict[str, Any]:
    """Stream `rate` fake ticks/s for `seconds`; counts, latencies and where things went.

    `replay_from`: the bridge continues a backfilled history's clock from there (the
    simulator's seed and edge of the settings) and the streamer closes minutes by the ticks'
    time, so the stream's bars and online state vectors extend the history.

    Keys: protocol, seconds, symbols, sent, received, written, rejected, lost (sent minus
    written and turned away), bars_closed, quotes, redis_p99_ms, db_p99_ms, heartbeat_key.
    """
    settings = settings or get_settings()
    symbols = tuple(s for s in settings.symbols if s in INSTRUMENTS) or ("EURUSD",)
    ports = BridgePorts(*(_free_port() for _ in range(5)))
    spool = tempfile.mkdtemp(prefix="underdog_demo_spool_")
    simulator = settings.market.simulator
    bridge = FakeBridge(protocol=protocol, ports=ports, rate=rate, seconds=seconds,
                        symbols=symbols, replay_from=replay_from, seed=simulator.seed,
                        edge=simulator.edge).start()
    replay = {}
    if replay_from is not None:  # ticks of the past: accepted, and minutes closed by them
        replay = {"clock": "ticks",
                  "max_age_s": (datetime.now(UTC) - replay_from).total_seconds() + 86_400}
    config = StreamConfig.from_settings(
        settings, protocol=protocol, symbols=symbols, sys_port=ports.sys,
        data_port=ports.data, live_port=ports.live, pub_port=ports.pub, push_port=ports.push,
        spool_dir=spool, record_latencies=True, **replay,
    )
    try:
        streamer = Streamer(config).start()
        bridge.done.wait(seconds + 15)
        deadline = time.monotonic() + 10
        while streamer.stats.ticks_received < bridge.sent and time.monotonic() < deadline:
            time.sleep(0.05)
        stats = streamer.stop()
    finally:
        bridge.stop()
        shutil.rmtree(spool, ignore_errors=True)
    latencies = streamer.stats.latencies
    return {
        "protocol": protocol, "seconds": seconds, "symbols": list(symbols),
        "sent": bridge.sent, "received": stats["ticks_received"], "written": stats["written"],
        "rejected": stats["rejected"],
        "lost": bridge.sent - stats["written"] - stats["rejected"] - stats["late"],
        "bars_closed": stats["bars_closed"], "quotes": stats["quotes"],
        "redis_p99_ms": _p99(latencies.redis_ms), "db_p99_ms": _p99(latencies.db()),
        "heartbeat_key": latest_key(config.redis_prefix, *KEY, cluster=config.redis_cluster),
    }


def _p99(values: list[float] | np.ndarray) -> float | None:
    values = np.asarray(values, dtype=np.float64)
    return round(float(np.percentile(values, 99)), 2) if values.size else None

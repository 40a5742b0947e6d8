"""A hostile bridge against the real command (`underdog-streamer run` in a subprocess, its
memory read from /proc): 10,000 bad frames among valid ticks cost bounded memory, one log
line a period and no valid tick; frames over the size limit are never read, and the
connection they cost is made again."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import zmq

from tests.helpers import free_port
from tests.streaming.conftest import SYMBOLS, StreamerProcess, count, free_ports, wait_until
from underdog.store.db import Database
from underdog_streaming.config import StreamConfig
from underdog_streaming.fake_bridge import FakeBridge
from underdog_streaming.ratelog import CountingLog
from underdog_streaming.subscriber import dwx_feed, mql5_feed

MB = 1024  # kB


def test_10k_hostile_frames_cost_bounded_memory_and_lose_no_valid_tick(
        db: Database, dsn: str, prefix: str, tmp_path: Path) -> None:
    ports = free_ports()
    # Frames of every kind in underdog_streaming.hostile: huge integers (no float holds
    # them), NaN/inf, garbage, wrong types, 16 KiB frames, deep nesting, bad UTF-8...
    bridge = FakeBridge(ports=ports, rate=400, seconds=10.0, symbols=SYMBOLS,
                        hostile=10_000).start()
    streamer = StreamerProcess(dsn, prefix, ports, tmp_path / "spool")
    try:
        assert wait_until(lambda: streamer.metric("ticks_written_total") > 0, 30)
        streamer.reset_peak()
        rss_kb = streamer.memory_kb("VmRSS")
        assert bridge.done.wait(30)
        frames = bridge.sent + bridge.hostile_sent
        assert wait_until(lambda: streamer.metric("ticks_received_total") >= frames, 30)
        assert wait_until(lambda: streamer.metric("ticks_written_total") >= bridge.sent, 30)
        peak_kb = streamer.memory_kb("VmHWM")
        summary = streamer.stop()
    finally:
        streamer.kill()
        bridge.stop()
    assert bridge.hostile_sent == 10_000
    assert summary["ticks_accepted"] == summary["written"] == bridge.sent  # none lost
    assert count(dsn, "SELECT count(*) FROM underdog.ticks") == bridge.sent
    assert summary["rejected"] == 10_000 and summary["malformed"] > 5_000
    assert count(dsn, "SELECT count(*) FROM underdog.dead_letters WHERE reason <> ''"
                      " AND payload ? 'raw'") == 10_000
    assert peak_kb - rss_kb < 64 * MB, f"grew {(peak_kb - rss_kb) / MB:.0f} MiB"
    # One line per period with a count, never a traceback per frame.
    lines = [line for line in streamer.stderr.splitlines() if "malformed frames" in line]
    assert 1 <= len(lines) <= 4, lines
    assert "Traceback" not in streamer.stderr and "OverflowError" not in streamer.stderr


def test_frames_over_the_size_limit_are_never_read_and_the_connection_comes_back(
        db: Database, dsn: str, prefix: str, tmp_path: Path) -> None:
    """Four 64 MB frames: libzmq drops the connection at the first one's header (the rest
    go with it), the streamer reconnects, and the ticks sent after it are stored."""
    ports = free_ports()
    bridge = FakeBridge(ports=ports, rate=300, seconds=0, symbols=SYMBOLS).start()
    streamer = StreamerProcess(dsn, prefix, ports, tmp_path / "spool")
    try:
        assert wait_until(lambda: streamer.metric("ticks_written_total") > 100, 30)
        streamer.reset_peak()
        rss_kb = streamer.memory_kb("VmRSS")
        bridge.inject([b"[" * (64 << 20)] * 4)
        dropped = wait_until(lambda: streamer.metric("feed_drops_total") >= 1, 15)
        grown_kb = streamer.memory_kb("VmHWM") - rss_kb
        assert grown_kb < 32 * MB, f"grew {grown_kb / MB:.0f} MiB"
        assert dropped
        written = streamer.metric("ticks_written_total")
        assert wait_until(lambda: streamer.metric("ticks_written_total") > written + 300, 15)
        summary = streamer.stop()
    finally:
        streamer.kill()
        bridge.stop()
    assert summary["feed_drops"] >= 1 and summary["rejected"] == 0
    assert "bridge connections dropped and reconnected" in streamer.stderr


def test_the_live_sockets_are_bounded_by_the_settings() -> None:
    config = StreamConfig(database_url="", redis_url="", symbols=SYMBOLS)
    assert (config.max_frame_bytes, config.receive_hwm) == (16_384, 10_000)
    context = zmq.Context()
    try:
        feeds = [mql5_feed(context, "127.0.0.1", free_port(), receive_hwm=123,
                           max_frame_bytes=4096),
                 dwx_feed(context, "127.0.0.1", free_port(), SYMBOLS, receive_hwm=123,
                          max_frame_bytes=4096)]
        for feed in feeds:
            assert feed.socket.getsockopt(zmq.RCVHWM) == 123
            assert feed.socket.getsockopt(zmq.MAXMSGSIZE) == 4096
            feed.close()
    finally:
        context.destroy(linger=0)


def test_a_flood_is_logged_as_one_line_per_period_with_its_count(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    counting = CountingLog(logging.getLogger("flood"), "malformed frames rejected",
                           every_s=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="flood"):
        for _ in range(1000):
            counting.note("bid is out of range")
        now[0] = 9.9
        counting.flush_if_due()
        now[0] = 10.0
        counting.flush_if_due()
        counting.flush_if_due()
    assert [r.getMessage() for r in caplog.records] == [
        "1 malformed frames rejected (1 in all; latest: bid is out of range)",
        "999 malformed frames rejected (1000 in all; latest: bid is out of range)"]

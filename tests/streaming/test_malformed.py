"""10,000 random malformed frames (7,000 MQL5-JSON-API, 3,000 DWX) among valid ticks: no
crash, every bad frame counted and dead-lettered with its reason and raw frame, every good
tick stored. Frames come from numpy's seeded generator (hypothesis is not installed here)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from tests.streaming.conftest import SYMBOLS, count, wait_until
from underdog.store.db import Database
from underdog_streaming.protocols import DELIMITER, format_dwx_tick, format_mql5_tick

UNKNOWN = ["USDXYZ", "EURUSDm", "eurusd", "EUR/USD", "", "GBPUSD.", "X" * 40, "EUR\u0000USD"]


def mql5_junk(rng: np.random.Generator, now_ms: int) -> bytes:
    """One frame the streamer must reject, of a randomly chosen kind."""
    symbol = str(rng.choice(SYMBOLS))

    def tick(t: object = now_ms, bid: object = 1.1, ask: object = 1.1002, sym: object = symbol,
             tf: object = "TICK") -> bytes:
        return json.dumps({"status": "CONNECTED", "symbol": sym, "timeframe": tf,
                           "data": [t, bid, ask]}).encode()

    kind = int(rng.integers(0, 14))
    if kind == 0:  # random bytes
        return rng.bytes(int(rng.integers(0, 200)))
    if kind == 1:  # truncated JSON
        good = tick()
        return good[: int(rng.integers(0, len(good) - 1))]
    if kind == 2:  # wrong types
        return tick(**{str(rng.choice(["t", "bid", "ask", "sym", "tf"])):
                       [None, "1.1", True, {"x": 1}, [1]][int(rng.integers(0, 5))]})
    if kind == 3:
        return b'{"symbol":"%s","timeframe":"TICK","data":[%d,NaN,1.1]}' % (
            symbol.encode(), now_ms)
    if kind == 4:  # not positive
        return tick(bid=-float(rng.uniform(0, 2)), ask=1.1)
    if kind == 5:  # crossed
        return tick(bid=1.1002, ask=1.1)
    if kind == 6:  # unknown symbols
        return tick(sym=str(rng.choice(UNKNOWN)))
    if kind == 7:  # huge numbers
        return [tick(bid=1e300, ask=1e301), tick(t=10**30),
                b'{"symbol":"EURUSD","timeframe":"TICK","data":[1,1e999,1e999]}'][
            int(rng.integers(0, 3))]
    if kind == 8:  # far future / far past: a wrong server offset
        return tick(t=now_ms + int(rng.choice([1, -1])) * 5 * 3_600_000)
    if kind == 9:  # shape
        return json.dumps([symbol, now_ms, 1.1, 1.1002]).encode()
    if kind == 10:
        return b'{"symbol":"EURUSD","timeframe":"TICK","data":[1,1.1,1.2,1.3]}'
    if kind == 11:  # deep nesting (16,000 bytes: under the frame limit)
        return b"[" * 8_000 + b"]" * 8_000
    if kind == 12:  # a large frame, under the 16 KiB limit (its dead letter keeps 4 KiB)
        return tick(sym="A" * int(rng.integers(5_000, 16_000)))
    return tick(tf=str(rng.choice(["S1", "tick", "", "M2"])))


def dwx_junk(rng: np.random.Generator) -> bytes:
    """A bad DWX frame that still starts with a subscribed topic (SUB filters the rest)."""
    topic = f"{rng.choice(SYMBOLS)}{DELIMITER}".encode()
    kind = int(rng.integers(0, 8))
    body = [
        lambda: rng.bytes(int(rng.integers(0, 50))),
        lambda: b"1.1",
        lambda: b"1.1;1.2;1.3",
        lambda: b"abc;1.1",
        lambda: b"nan;1.1",
        lambda: b"-1.1;1.1",
        lambda: b"1.1002;1.1",
        lambda: b"1e999;1e999",
    ][kind]()
    frame = topic + body
    return frame + b";x" if frame.count(b";") == 1 and body == b"1.1" else frame


def run(bridge_and_streamer, dsn: str, protocol: str, junk: list[bytes],
        good: list[bytes]) -> dict:
    bridge, streamer = bridge_and_streamer(dsn, protocol=protocol, rate=0)
    assert bridge.streaming.wait(10), "the streamer did not subscribe"
    rng = np.random.default_rng(1)
    frames = junk + good
    order = rng.permutation(len(frames))
    bridge.inject([frames[i] for i in order])
    wait_until(lambda: streamer.stats.frames >= len(frames), 60)
    assert streamer._threads["receive"].is_alive()
    assert streamer.stats.frames == streamer.stats.ticks_received == len(frames)
    return streamer.stop()


@pytest.mark.parametrize(("protocol", "n"), [("mql5", 7_000), ("dwx", 3_000)])
def test_random_malformed_frames(protocol: str, n: int, db: Database, dsn: str,
                                 bridge_and_streamer) -> None:
    rng = np.random.default_rng(20240105 + n)
    now_ms = time.time_ns() // 1_000_000
    if protocol == "mql5":
        junk = [mql5_junk(rng, now_ms) for _ in range(n)]
        good = [format_mql5_tick(str(rng.choice(SYMBOLS)), now_ms + i, 1.1, 1.1002)
                for i in range(500)]
    else:
        junk = [dwx_junk(rng) for _ in range(n)]
        good = [format_dwx_tick(str(rng.choice(SYMBOLS)), 1.1, 1.1002) for _ in range(300)]
    summary = run(bridge_and_streamer, dsn, protocol, junk, good)
    assert summary["rejected"] == n and summary["ticks_accepted"] == len(good)
    assert count(dsn, "SELECT count(*) FROM underdog.ticks") == len(good)
    assert count(dsn, "SELECT count(*) FROM underdog.dead_letters"
                      f" WHERE source = '{protocol}' AND target_table = 'ticks'"
                      " AND reason <> '' AND payload ? 'raw'") == n
    # A large frame keeps 4 KiB and says how big it was; invalid UTF-8 and NUL are escaped.
    if protocol == "mql5":
        assert count(dsn, "SELECT count(*) FROM underdog.dead_letters"
                          " WHERE (payload->>'size')::int > 4096"
                          " AND length(payload->>'raw') <= 4096") > 0

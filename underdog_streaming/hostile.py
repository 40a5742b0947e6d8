"""Hostile frames: what a broken or malicious bridge can put on the live socket.

Each one is a frame the streamer must reject (count, dead-letter, no traceback) without
losing a valid tick around it: huge integers, NaN/inf, garbage bytes, wrong types, frames up
to the size limit, deep nesting, bad UTF-8, truncated JSON, wrong shapes. The fake bridge
sends them among its ticks (`hostile=N`), for the tests and `bench/stream.py --hostile`.
A frame over the size limit is not here: it costs the connection (see `subscriber`).
"""

from __future__ import annotations

import json

import numpy as np

from underdog_streaming.protocols import DELIMITER

HUGE = 10 ** 400  # a JSON integer no float holds


def _tick(symbol: object, time_msc: object, bid: object, ask: object,
          timeframe: object = "TICK") -> bytes:
    return json.dumps({"status": "CONNECTED", "symbol": symbol, "timeframe": timeframe,
                       "data": [time_msc, bid, ask]}).encode()


def mql5_frame(rng: np.random.Generator, symbol: str, now_ms: int, max_bytes: int) -> bytes:
    """One MQL5-JSON-API live frame that must be rejected, of a randomly chosen kind."""
    kinds = [
        lambda: _tick(symbol, now_ms, HUGE, 1.1),  # OverflowError in float()
        lambda: _tick(symbol, now_ms, 1.1, -HUGE),
        lambda: json.dumps({"symbol": symbol, "timeframe": "M1",
                            "data": [now_ms // 1000, HUGE, 1, 1, 1, 1]}).encode(),
        lambda: _tick(symbol, HUGE, 1.1, 1.1002),
        lambda: b'{"symbol":"%s","timeframe":"TICK","data":[%d,%s,1.1]}' % (
            symbol.encode(), now_ms, b"9" * 5000),  # past Python's int digits limit
        lambda: b'{"symbol":"%s","timeframe":"TICK","data":[%d,NaN,1.1]}' % (
            symbol.encode(), now_ms),
        lambda: b'{"symbol":"%s","timeframe":"TICK","data":[%d,Infinity,-Infinity]}' % (
            symbol.encode(), now_ms),
        lambda: _tick(symbol, now_ms, 1e308, 1e308),
        lambda: rng.bytes(int(rng.integers(0, 256))),  # garbage
        lambda: b"",
        lambda: _tick(symbol, now_ms, "1.1", 1.1002),  # wrong types
        lambda: _tick(symbol, now_ms, True, None),
        lambda: _tick(symbol, float(now_ms), 1.1, 1.1002),
        lambda: _tick(42, now_ms, 1.1, 1.1002),
        lambda: _tick(symbol, now_ms, {"x": 1}, [1.1]),
        lambda: json.dumps({"symbol": symbol, "timeframe": "TICK", "data": {"bid": 1}}).encode(),
        lambda: json.dumps([symbol, now_ms, 1.1, 1.1002]).encode(),  # wrong shapes
        lambda: b'"TICK"',
        lambda: _tick(symbol, now_ms, 1.1, 1.1002)[:-7],  # truncated
        lambda: b"[" * (max_bytes // 2) + b"]" * (max_bytes // 2),  # nesting
        lambda: b'{"a":' * (max_bytes // 6) + b"1" + b"}" * (max_bytes // 6),
        lambda: _tick(symbol, now_ms, [[[[[[1.1]]]]]], 1.1002),
        lambda: _tick(symbol, now_ms, 1.1, 1.1002)[:20] + b"\xff\xfe\xc3(" + b"USD",  # UTF-8
        lambda: _tick(symbol + "\udcff", now_ms, 1.1, 1.1002).replace(b"\\udcff", b"\xed\xb3\xbf"),
        lambda: _tick("EUR\x00USD", now_ms, 1.1, 1.1002),
        lambda: _tick("A" * (max_bytes - 200), now_ms, 1.1, 1.1002),  # large, under the limit
        lambda: _tick(symbol, now_ms, 1.1, 1.1002, timeframe="S1"),
        lambda: _tick(symbol, now_ms, 1.1002, 1.1),  # crossed
        lambda: _tick(symbol, now_ms, -1.1, 1.1),
    ]
    return kinds[int(rng.integers(0, len(kinds)))]()


def dwx_frame(rng: np.random.Generator, symbol: str, max_bytes: int) -> bytes:
    """One DWX frame that must be rejected; it starts with a subscribed topic (SUB filters
    the rest out before the streamer sees it)."""
    topic = f"{symbol}{DELIMITER}".encode()
    bodies = [
        lambda: rng.bytes(int(rng.integers(0, 256))).replace(b";", b""),
        lambda: b"nan;nan",
        lambda: b"inf;-inf",
        lambda: b"1e999;1e999",
        lambda: b"9" * 5000 + b";1.1",
        lambda: b"1.1",
        lambda: b"abc;1.1",
        lambda: b"1.1;\xff\xfe",
        lambda: b"1.1002;1.1",
        lambda: b"-1.1;1.1",
        lambda: b"1" * (max_bytes - 100) + b";1",  # large, under the limit
        lambda: b"1.1;1.1002;x;y;z",
        lambda: b"9" * 5000 + b";1;1;1;1;1;1;0",  # 8 fields: rates, its time no int() reads
    ]
    return topic + bodies[int(rng.integers(0, len(bodies)))]()


def hostile_frame(rng: np.random.Generator, protocol: str, symbols: tuple[str, ...],
                  now_ms: int, max_bytes: int = 16_384) -> bytes:
    symbol = symbols[int(rng.integers(0, len(symbols)))]
    if protocol == "dwx":
        return dwx_frame(rng, symbol, max_bytes)
    return mql5_frame(rng, symbol, now_ms, max_bytes)

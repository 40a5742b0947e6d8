"""Test support: real-format .bi5 files, and a local HTTP stand-in for the Dukascopy datafeed.

The files are built here from the format's definition (struct '>IIIff' + LZMA "alone"),
independently of the decoder under test.
"""

from __future__ import annotations

import lzma
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from http.server import ThreadingHTTPServer

import pandas as pd

from tests.helpers import QuietHandler, free_port, serving
from underdog.reference.instruments import get_instrument

PREFIX = "/datafeed"
Record = tuple[int, int, int, float, float]  # ms, ask points, bid points, ask vol, bid vol


def pack(records: list[Record]) -> bytes:
    """Uncompressed records, big-endian, 20 bytes each."""
    return b"".join(struct.pack(">IIIff", *record) for record in records)


def bi5(records: list[Record], preset: int = 6) -> bytes:
    """A .bi5 file: LZMA "alone" (any preset decodes the same; bulk files use a fast one)."""
    return lzma.compress(pack(records), format=lzma.FORMAT_ALONE, preset=preset)


@cache
def bomb(megabytes: int = 100) -> bytes:
    """A decompression bomb in the .bi5 format: one valid record (offset 0, EURUSD-like
    prices) repeated to `megabytes` MB once expanded, ~15 KB compressed. Built in 1 MB steps
    so the test itself never holds the expanded file."""
    chunk = pack([(0, 108_512, 108_500, 1.0, 1.0)]) * 50_000  # 1 MB
    compressor = lzma.LZMACompressor(format=lzma.FORMAT_ALONE, filters=[
        {"id": lzma.FILTER_LZMA1, "preset": 0, "nice_len": 273}])  # fastest on repeats
    parts = [compressor.compress(chunk) for _ in range(megabytes)]
    return b"".join([*parts, compressor.flush()])


def path(symbol: str, hour: datetime) -> str:
    """The datafeed path, written out by hand: month 0-based, two digits everywhere."""
    return (f"{symbol}/{hour.year}/{hour.month - 1:02d}/{hour.day:02d}/"
            f"{hour.hour:02d}h_ticks.bi5")


def hour_files(symbol: str, ticks: pd.DataFrame) -> dict[str, bytes]:
    """One .bi5 per hour that has ticks (columns time, bid, ask, bid_volume, ask_volume)."""
    point = get_instrument(symbol).point
    files = {}
    for hour, group in ticks.groupby(ticks["time"].dt.floor("h")):
        ms = (group["time"] - hour) // pd.Timedelta(milliseconds=1)
        records = [
            (int(m), round(a / point), round(b / point), float(av), float(bv))
            for m, a, b, av, bv in zip(ms, group["ask"], group["bid"], group["ask_volume"],
                                       group["bid_volume"], strict=True)
        ]
        files[path(symbol, hour.to_pydatetime())] = bi5(records, preset=1)
    return files


class Feed:
    """Paths -> queued answers; the last answer repeats; anything else is a 404.

    An answer is bytes (200 with that body), an int (that status, empty body), or
    (status, body, delay_s).
    """

    def __init__(self, port: int) -> None:
        self.base_url = f"http://127.0.0.1:{port}{PREFIX}"
        self._answers: dict[str, list[tuple[int, bytes, float]]] = {}
        self._lock = threading.Lock()
        self.requests: list[str] = []

    def serve(self, relative: str, *answers: bytes | int | tuple[int, bytes, float]) -> None:
        with self._lock:
            self._answers[relative] = [_answer(a) for a in answers]

    def serve_all(self, files: dict[str, bytes]) -> None:
        for relative, data in files.items():
            self.serve(relative, data)

    def hits(self, relative: str) -> int:
        return self.requests.count(relative)

    def answer(self, request_path: str) -> tuple[int, bytes, float]:
        relative = request_path.removeprefix(PREFIX + "/")
        with self._lock:
            self.requests.append(relative)
            queue = self._answers.get(relative)
            if not queue:
                return 404, b"", 0.0
            return queue.pop(0) if len(queue) > 1 else queue[0]


def _answer(answer: bytes | int | tuple[int, bytes, float]) -> tuple[int, bytes, float]:
    if isinstance(answer, bytes):
        return 200, answer, 0.0
    if isinstance(answer, int):
        return answer, b"", 0.0
    return answer


closed_port = free_port  # a port nobody listens on: connections are refused


@contextmanager
def serve_feed() -> Iterator[Feed]:
    """A threaded HTTP server on 127.0.0.1 and a random port, for the test's duration."""
    feed: Feed

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            status, body, delay = feed.answer(self.path)
            time.sleep(delay)
            self.reply(status, body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.handle_error = lambda request, address: None  # a client that timed out hung up
    feed = Feed(server.server_address[1])
    with serving(server):
        yield feed

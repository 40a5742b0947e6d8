"""Micro-batches: what the receive path hands the writer, and what the writer writes or spools.

The receive loop appends rows under a short lock (`Batcher.add`); the writer thread swaps the
whole pending batch out (`Batcher.take`) every few milliseconds. A `WriteBatch` has four
parts (ticks, bars, quotes, dead letters), written in one transaction. Rows are plain tuples
(cheap to make at 10,000 a second) and serialize to JSON for the spool.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

PARTS = ("ticks", "bars", "quotes", "dead")


class TickRow(NamedTuple):
    symbol: str
    time_us: int  # UTC
    seq: int
    bid: float
    ask: float
    recv_ns: int  # receipt, UTC wall clock: the row's available_at, and the latency origin


class BarRow(NamedTuple):
    symbol: str
    time_us: int  # minute start, UTC
    open: float
    high: float
    low: float
    close: float
    volume: int
    spread: float


class QuoteRow(NamedTuple):
    symbol: str
    time_us: int  # snapshot time, UTC
    bid: float
    ask: float
    depth: dict | None  # {"bids": [[price, volume], ...], "asks": [...]} where offered
    available_us: int


class DeadRow(NamedTuple):
    source: str  # the bridge protocol: "mql5" / "dwx"
    target_table: str
    reason: str
    payload: dict


def tagged(payload: dict[str, object], streamer_id: str) -> dict[str, object]:
    """A dead letter's payload naming the streamer that wrote it, when there are several
    (hot standbys both reject the same bad frame: two rows, told apart)."""
    return {**payload, "streamer": streamer_id} if streamer_id else payload


_ROW_TYPES = {"ticks": TickRow, "bars": BarRow, "quotes": QuoteRow, "dead": DeadRow}


@dataclass
class WriteBatch:
    ticks: list[TickRow] = field(default_factory=list)
    bars: list[BarRow] = field(default_factory=list)
    quotes: list[QuoteRow] = field(default_factory=list)
    dead: list[DeadRow] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(getattr(self, part)) for part in PARTS)

    def extend(self, other: WriteBatch) -> None:
        for part in PARTS:
            getattr(self, part).extend(getattr(other, part))

    def to_json(self) -> bytes:
        return json.dumps({part: getattr(self, part) for part in PARTS},
                          separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> WriteBatch:
        raw: dict[str, Any] = json.loads(data)
        return cls(**{part: [_ROW_TYPES[part](*row) for row in raw.get(part, [])]
                      for part in PARTS})


class Batcher:
    """Thread-safe accumulation of one pending `WriteBatch`."""

    def __init__(self, *, max_rows: int = 5000) -> None:
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._pending = WriteBatch()
        self.full = threading.Event()  # set when the pending ticks reach max_rows

    def add(self, ticks: Sequence[TickRow] = (), dead: Sequence[DeadRow] = (),
            quotes: Sequence[QuoteRow] = ()) -> None:
        with self._lock:
            self._pending.ticks.extend(ticks)
            self._pending.dead.extend(dead)
            self._pending.quotes.extend(quotes)
            if len(self._pending.ticks) >= self.max_rows:
                self.full.set()

    def take(self) -> WriteBatch:
        with self._lock:
            batch, self._pending = self._pending, WriteBatch()
            self.full.clear()
        return batch

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

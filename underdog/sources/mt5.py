"""MT5 history through the MQL5-JSON-API bridge (khramkov/MQL5-JSON-API): a backfill source.

The API's HISTORY request, as its EA (`Experts/JsonAPI.mq5`, `HistoryInfo`) defines it:
  system socket (REQ -> REP, port 15555)  {"action": "HISTORY", "actionType": "DATA",
      "symbol": S, "chartTF": "TICK" | "M1" | ..., "fromDate": t0, "toDate": t1, ...}
      answered "OK" at once;
  data socket (PUSH -> PULL, port 15556)  the result, then:
      TICK  {"data": [[time_msc, bid, ask], ...], "symbol": S, "timeframe": "TICK"}
            (CopyTicksRange over [t0, t1] in milliseconds, both ends included)
      M1    {"data": [[time, open, high, low, close, tick_volume, spread], ...], ...}
            (CopyRates; the EA appends the forming bar after the closed ones)
      error {"error": true, "lastError": "65541", "description": "...", "function": "..."}
`fromDate` / `toDate` are Unix seconds on the broker's server clock, and so are the times
returned: the offset (server clock minus UTC) is added to the request and taken off the
answer. With no `server_utc_offset_hours` given, UNDERDOG_MT5_SERVER_UTC_OFFSET_HOURS (the
streamer's setting) is read, default 0.

`fetch_history` asks for one day at a time (the API's own advice: a long request outruns the
data socket's timeout while the terminal downloads) and returns
  ticks (timeframe "TICK", the default): [time, bid, ask, bid_volume, ask_volume], time UTC
      datetime64[ns], sorted; the API gives no volumes, so those are NaN;
  bars (timeframe "M1"): [time, open, high, low, close, volume, spread], closed bars only,
      volume the tick count, spread in price units (the API's points x the point size).
Rows are limited to [start, end). Caveat of the protocol: the data socket deals replies
round-robin to every PULL connected to it, so run a backfill against a bridge no streamer
is asking depth from (or accept a timeout and retry).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import zmq

from underdog.reference.endpoints import MT5_DATA_PORT, MT5_HOST, MT5_SYS_PORT
from underdog.reference.instruments import get_instrument
from underdog.reference.schema import BAR, TICK_COLUMNS

BAR_COLUMNS = ["time", "open", "high", "low", "close", "volume", "spread"]
OFFSET_ENV = "UNDERDOG_MT5_SERVER_UTC_OFFSET_HOURS"
REQUEST_KEYS = ("action", "actionType", "symbol", "chartTF", "fromDate", "toDate", "id",
                "magic", "volume", "price", "stoploss", "takeprofit", "expiration",
                "deviation", "comment")
CHUNK = timedelta(days=1)


class MT5Error(RuntimeError):
    """The bridge answered with an error, or did not answer in time."""


def fetch_history(symbol: str, start: datetime, end: datetime, *, host: str = MT5_HOST,
                  sys_port: int = MT5_SYS_PORT, data_port: int = MT5_DATA_PORT,
                  timeout_s: float = 30.0,
                  timeframe: str = "TICK",
                  server_utc_offset_hours: float | None = None) -> pd.DataFrame:
    """Ticks (or M1 bars) of `symbol` in [start, end) from an MT5 terminal; see the module."""
    if timeframe not in ("TICK", "M1"):
        raise ValueError(f"timeframe must be TICK or M1, got {timeframe!r}")
    start_ts, end_ts = _utc(start, "start"), _utc(end, "end")
    offset = _offset(server_utc_offset_hours)
    frames = []
    with _Bridge(host, sys_port, data_port, timeout_s) as bridge:
        for chunk_start in pd.date_range(start_ts, end_ts, freq=CHUNK, inclusive="left"):
            chunk_end = min(chunk_start + CHUNK, end_ts)
            reply = bridge.history(symbol, timeframe, chunk_start + offset, chunk_end + offset)
            frame = (_ticks(reply, offset) if timeframe == "TICK"
                     else _bars(reply, offset, symbol, chunk_end))
            frames.append(frame[(frame["time"] >= chunk_start) & (frame["time"] < chunk_end)])
    columns = TICK_COLUMNS if timeframe == "TICK" else BAR_COLUMNS
    if not frames:
        return _empty(columns)
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values("time", kind="stable").reset_index(drop=True)[columns]


def _utc(value: datetime, name: str) -> pd.Timestamp:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value!r}")
    return pd.Timestamp(value).tz_convert("UTC")


def _offset(hours: float | None) -> pd.Timedelta:
    if hours is None:
        hours = float(os.environ.get(OFFSET_ENV, "0") or 0)
    return pd.Timedelta(hours=hours)


def _rows(reply: dict, width: int) -> list[list]:
    """The reply's rows; an empty answer comes as [[]] or [null]."""
    data = reply.get("data")
    if not isinstance(data, list):
        raise MT5Error(f"unexpected HISTORY reply: {str(reply)[:200]}")
    rows = [r for r in data if isinstance(r, list) and r]
    if any(len(r) < width for r in rows):
        raise MT5Error(f"HISTORY rows shorter than {width} fields")
    return rows


def _ticks(reply: dict, offset: pd.Timedelta) -> pd.DataFrame:
    rows = _rows(reply, 3)
    if not rows:
        return _empty(TICK_COLUMNS)
    values = np.array([r[:3] for r in rows], dtype=np.float64)
    ms = np.array([r[0] for r in rows], dtype=np.int64)
    return pd.DataFrame({
        "time": pd.to_datetime(ms, unit="ms", utc=True).as_unit("ns") - offset,
        "bid": values[:, 1], "ask": values[:, 2],
        "bid_volume": np.nan, "ask_volume": np.nan,
    })


def _bars(reply: dict, offset: pd.Timedelta, symbol: str, end: pd.Timestamp) -> pd.DataFrame:
    rows = _rows(reply, 7)
    if not rows:
        return _empty(BAR_COLUMNS)
    values = np.array([r[:7] for r in rows], dtype=np.float64)
    times = pd.to_datetime(values[:, 0].astype(np.int64), unit="s", utc=True).as_unit("ns")
    frame = pd.DataFrame({
        "time": times - offset, "open": values[:, 1], "high": values[:, 2],
        "low": values[:, 3], "close": values[:, 4], "volume": values[:, 5].astype(np.int64),
        "spread": values[:, 6] * get_instrument(symbol).point,
    })
    # The forming bar (appended by the EA, or inside the range): only bars closed by `end`.
    frame = frame[frame["time"] + BAR <= end]
    return frame.drop_duplicates("time", keep="first")


def _empty(columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    frame["time"] = pd.Series(dtype="datetime64[ns, UTC]")
    if "volume" in frame:
        frame["volume"] = frame["volume"].astype("int64")
    return frame[columns]


class _Bridge:
    """A REQ on the system socket and a PULL on the data socket, for one fetch."""

    def __init__(self, host: str, sys_port: int, data_port: int, timeout_s: float) -> None:
        self.timeout_ms = int(timeout_s * 1000)
        self.context = zmq.Context()
        self.sys = self.context.socket(zmq.REQ)
        self.data = self.context.socket(zmq.PULL)
        for socket, port in ((self.sys, sys_port), (self.data, data_port)):
            socket.setsockopt(zmq.LINGER, 0)
            socket.connect(f"tcp://{host}:{port}")

    def __enter__(self) -> _Bridge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.context.destroy(linger=0)

    def history(self, symbol: str, timeframe: str, start: pd.Timestamp,
                end: pd.Timestamp) -> dict:
        """One HISTORY DATA request; `start` / `end` already on the server clock."""
        request: dict = dict.fromkeys(REQUEST_KEYS)
        request.update(action="HISTORY", actionType="DATA", symbol=symbol, chartTF=timeframe,
                       fromDate=_seconds(start), toDate=_seconds(end, up=True))
        self.sys.send_json(request)
        if not self.sys.poll(self.timeout_ms) or self.sys.recv() != b"OK":
            raise MT5Error(f"the bridge's system socket did not acknowledge HISTORY {symbol}")
        if not self.data.poll(self.timeout_ms):
            raise MT5Error(f"no HISTORY data for {symbol} within {self.timeout_ms / 1000} s")
        try:
            reply = json.loads(self.data.recv())
        except ValueError as exc:
            raise MT5Error(f"HISTORY reply is not JSON: {exc}") from None
        if not isinstance(reply, dict):
            raise MT5Error("HISTORY reply is not a JSON object")
        if reply.get("error"):
            raise MT5Error(f"HISTORY {symbol} {timeframe}: {reply.get('description')}"
                           f" ({reply.get('lastError')})")
        return reply


def _seconds(moment: pd.Timestamp, *, up: bool = False) -> int:
    """Whole seconds of a server-clock time (the API's unit), rounded down or up."""
    return -(-moment.value // 1_000_000_000) if up else moment.value // 1_000_000_000

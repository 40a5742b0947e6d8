"""The two MT5 bridges' wire formats: parse what they send, format what a fake one sends.

MQL5-JSON-API (khramkov/MQL5-JSON-API, `Experts/JsonAPI.mq5`). Four sockets on the terminal:
system REQ/REP 15555 (a JSON request, answered "OK"), data PUSH 15556 (the request's result),
live PUSH 15557 (subscribed prices), streaming PUSH 15558 (trade events; unused here).
A CONFIG request `{"action": "CONFIG", "symbol": S, "chartTF": "TICK" | "M1" | ...}` adds a
subscription; the live socket then carries
  tick  {"status": "CONNECTED", "symbol": S, "timeframe": "TICK", "data": [time_msc, bid, ask]}
  bar   {"status": "CONNECTED", "symbol": S, "timeframe": "M1",
         "data": [time_s, open, high, low, close, tick_volume]}   (the last closed bar)
  state {"status": "DISCONNECTED"}                                 (terminal lost the market)
Times are the broker's trade-server clock (MqlTick.time_msc, MqlRates.time), not UTC: the
parser subtracts the configured server offset.

DWX ZeroMQ connector (darwinex/dwx-zeromq-connector v2.0.2). The terminal PUBlishes on 32770
  tick  "SYMBOL:|:bid;ask"
  rates "SYMBOL_M1:|:time;open;high;low;close;tick_volume;spread;real_volume"
and takes commands on a PULL socket at 32768 (`TRACK_PRICES;EURUSD;GBPUSD` picks the published
symbols). A DWX tick carries no time: it is stamped on receipt, in UTC.

Parsers raise `Malformed(reason)` for anything they cannot read; they judge shape and types
only. Whether the values make sense (positive prices, sane time) is `checks.TickChecker`'s job.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

DELIMITER = ":|:"
_JSON = json.JSONDecoder()
MQL5_TIMEFRAMES = frozenset({"M1", "M5", "M15", "M30", "H1", "H2", "H3", "H4", "H6", "H8",
                             "H12", "D1", "W1", "MN1"})
# The request dict the MQL5-JSON-API documents: every key present, unused ones null.
MQL5_REQUEST_KEYS = ("action", "actionType", "symbol", "chartTF", "fromDate", "toDate", "id",
                     "magic", "volume", "price", "stoploss", "takeprofit", "expiration",
                     "deviation", "comment")


class Malformed(ValueError):
    """A frame that cannot be read as any message of the protocol."""


class Tick(NamedTuple):
    symbol: str
    time_us: int  # UTC microseconds since the epoch
    bid: float
    ask: float


class BridgeBar(NamedTuple):
    """A bar the bridge computed itself (informational: our bars are rolled from ticks)."""

    symbol: str
    timeframe: str
    time_us: int  # bar start, UTC microseconds
    open: float
    high: float
    low: float
    close: float
    volume: float


class Status(NamedTuple):
    status: str  # "CONNECTED" / "DISCONNECTED" (MQL5-JSON-API only)


Message = Tick | BridgeBar | Status


def _number(value: Any, what: str) -> float:
    # bool is an int subclass; a JSON true is not a price.
    if type(value) is float:
        return value
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:  # JSON integers have no size limit, floats do
            raise Malformed(f"{what} is out of range") from None
    raise Malformed(f"{what} is not a number")


def _integer(value: Any, what: str) -> int:
    if type(value) is int:
        return value
    raise Malformed(f"{what} is not an integer")


# ---------------------------------------------------------------- MQL5-JSON-API


def parse_mql5(frame: bytes, *, offset_us: int = 0) -> Message:
    """One live-socket frame; `offset_us` is the server clock minus UTC, in microseconds."""
    try:
        msg = _JSON.decode(frame.decode())  # json.loads(bytes) first sniffs the encoding
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise Malformed("not JSON") from None
    if not isinstance(msg, dict):
        raise Malformed("not a JSON object")
    if "timeframe" not in msg:  # {"status": "DISCONNECTED"} and the like
        status = msg.get("status")
        if isinstance(status, str):
            return Status(status)
        raise Malformed("no timeframe and no status")
    timeframe = msg["timeframe"]
    if not isinstance(timeframe, str):
        raise Malformed("timeframe is not a string")
    symbol, data = msg.get("symbol"), msg.get("data")
    if not isinstance(symbol, str):
        raise Malformed("symbol is not a string")
    if not isinstance(data, list):
        raise Malformed("data is not a list")
    if timeframe == "TICK":
        return _mql5_tick(symbol, data, offset_us)
    if timeframe in MQL5_TIMEFRAMES:
        return _mql5_bar(symbol, timeframe, data, offset_us)
    raise Malformed("unknown timeframe")


def _mql5_tick(symbol: str, data: list, offset_us: int) -> Tick:
    if len(data) != 3:
        raise Malformed("tick data is not [time_msc, bid, ask]")
    time_msc = _integer(data[0], "time_msc")
    return Tick(symbol, time_msc * 1000 - offset_us, _number(data[1], "bid"),
                _number(data[2], "ask"))


def _mql5_bar(symbol: str, timeframe: str, data: list, offset_us: int) -> BridgeBar:
    if len(data) not in (6, 7):  # some forks append the spread
        raise Malformed("bar data is not [time, open, high, low, close, tick_volume]")
    time_s = _integer(data[0], "bar time")
    o, h, lo, c, v = (_number(x, "bar value") for x in data[1:6])
    return BridgeBar(symbol, timeframe, time_s * 1_000_000 - offset_us, o, h, lo, c, v)


def format_mql5_tick(symbol: str, time_msc: int, bid: float, ask: float) -> bytes:
    return (f'{{"status":"CONNECTED","symbol":"{symbol}","timeframe":"TICK",'
            f'"data":[{time_msc},{bid!r},{ask!r}]}}').encode()


def format_mql5_bar(symbol: str, timeframe: str, time_s: int, o: float, h: float, lo: float,
                    c: float, volume: float) -> bytes:
    return json.dumps({"status": "CONNECTED", "symbol": symbol, "timeframe": timeframe,
                       "data": [time_s, o, h, lo, c, float(volume)]},
                      separators=(",", ":")).encode()


def mql5_request(action: str, **fields: Any) -> dict[str, Any]:
    """A system-socket request: the documented default dict with `fields` filled in."""
    unknown = set(fields) - set(MQL5_REQUEST_KEYS)
    if unknown:
        raise KeyError(f"unknown MQL5-JSON-API request keys {sorted(unknown)}")
    request: dict[str, Any] = dict.fromkeys(MQL5_REQUEST_KEYS)
    request.update(action=action, **fields)
    return request


# ---------------------------------------------------------------- DWX


def parse_dwx(frame: bytes, *, recv_us: int, offset_us: int = 0) -> Tick | BridgeBar:
    """One SUB frame; a tick's time is its receipt time `recv_us` (UTC microseconds).

    A rates message carries the bar's server time; `offset_us` converts it as for MQL5.
    """
    try:
        text = frame.decode("ascii")
    except UnicodeDecodeError:
        raise Malformed("not ASCII") from None
    head, sep, body = text.partition(DELIMITER)
    if not sep:
        raise Malformed("no ':|:' delimiter")
    fields = body.split(";")
    if len(fields) == 2:
        return Tick(head, recv_us, _dwx_float(fields[0], "bid"), _dwx_float(fields[1], "ask"))
    if len(fields) == 8:
        return _dwx_rates(head, fields, offset_us)
    raise Malformed("neither bid;ask nor an 8-field rates message")


def _dwx_float(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise Malformed(f"{what} is not a number") from None


def _dwx_rates(instrument: str, fields: list[str], offset_us: int) -> BridgeBar:
    symbol, _, timeframe = instrument.rpartition("_")
    if not symbol or timeframe not in MQL5_TIMEFRAMES:
        raise Malformed("rates instrument is not SYMBOL_TIMEFRAME")
    try:
        time_s = int(fields[0])
    except ValueError:
        raise Malformed("rates time is not an integer") from None
    o, h, lo, c, v = (_dwx_float(x, "rates value") for x in fields[1:6])
    return BridgeBar(symbol, timeframe, time_s * 1_000_000 - offset_us, o, h, lo, c, v)


def format_dwx_tick(symbol: str, bid: float, ask: float, digits: int = 5) -> bytes:
    return f"{symbol}{DELIMITER}{bid:.{digits}f};{ask:.{digits}f}".encode()


def format_dwx_rates(symbol: str, timeframe: str, time_s: int, o: float, h: float, lo: float,
                     c: float, tick_volume: int, spread: int, digits: int = 5) -> bytes:
    prices = ";".join(f"{p:.{digits}f}" for p in (o, h, lo, c))
    return f"{symbol}_{timeframe}{DELIMITER}{time_s};{prices};{tick_volume};{spread};0".encode()


def dwx_track_prices(symbols: list[str] | tuple[str, ...]) -> bytes:
    """The command that makes a DWX server publish exactly these symbols."""
    return ";".join(["TRACK_PRICES", *symbols]).encode()

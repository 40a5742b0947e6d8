"""The two bridges' wire formats: the documented examples parse, formats round-trip, junk is
`Malformed` with a reason."""

from __future__ import annotations

import json

import pytest

from underdog_streaming.protocols import (
    BridgeBar,
    Malformed,
    Status,
    Tick,
    dwx_track_prices,
    format_dwx_rates,
    format_dwx_tick,
    format_mql5_bar,
    format_mql5_tick,
    mql5_request,
    parse_dwx,
    parse_mql5,
)

HOUR_US = 3_600_000_000


def test_mql5_readme_tick_and_bar() -> None:
    # The live-socket examples of the MQL5-JSON-API README, on a server two hours ahead of UTC.
    tick = parse_mql5(b'{"status":"CONNECTED","symbol":"EURUSD","timeframe":"TICK",'
                      b'"data":[1581611172734,1.08515,1.08521]}', offset_us=2 * HOUR_US)
    assert tick == Tick("EURUSD", 1581611172734000 - 2 * HOUR_US, 1.08515, 1.08521)
    bar = parse_mql5(b'{"status":"CONNECTED","symbol":"EURUSD","timeframe":"M1",'
                     b'"data":[1581611100,1.08525,1.08525,1.08520,1.08520,10.00000]}')
    assert bar == BridgeBar("EURUSD", "M1", 1581611100_000000, 1.08525, 1.08525, 1.0852,
                            1.0852, 10.0)
    assert parse_mql5(b'{"status":"DISCONNECTED"}') == Status("DISCONNECTED")


def test_mql5_formats_round_trip() -> None:
    frame = format_mql5_tick("GBPUSD", 1_700_000_000_123, 1.27001, 1.27015)
    assert json.loads(frame)["timeframe"] == "TICK"
    assert parse_mql5(frame) == Tick("GBPUSD", 1_700_000_000_123_000, 1.27001, 1.27015)
    bar = parse_mql5(format_mql5_bar("GBPUSD", "M1", 1_700_000_040, 1.2, 1.3, 1.1, 1.25, 7))
    assert bar == BridgeBar("GBPUSD", "M1", 1_700_000_040_000_000, 1.2, 1.3, 1.1, 1.25, 7.0)


def test_dwx_tick_is_stamped_on_receipt_and_rates_parse() -> None:
    assert parse_dwx(b"EURUSD:|:1.08515;1.08521", recv_us=42) == Tick("EURUSD", 42, 1.08515,
                                                                       1.08521)
    assert parse_dwx(format_dwx_tick("USDJPY", 150.123, 150.135, 3), recv_us=7) == Tick(
        "USDJPY", 7, 150.123, 150.135)
    rates = format_dwx_rates("EURUSD", "M1", 1_700_000_040, 1.1, 1.2, 1.0, 1.15, 12, 9)
    assert rates == b"EURUSD_M1:|:1700000040;1.10000;1.20000;1.00000;1.15000;12;9;0"
    bar = parse_dwx(rates, recv_us=0, offset_us=HOUR_US)
    assert bar == BridgeBar("EURUSD", "M1", 1_700_000_040_000_000 - HOUR_US, 1.1, 1.2, 1.0,
                            1.15, 12.0)


def test_requests() -> None:
    request = mql5_request("CONFIG", symbol="EURUSD", chartTF="TICK")
    assert request["action"] == "CONFIG" and request["toDate"] is None and len(request) == 15
    with pytest.raises(KeyError):
        mql5_request("CONFIG", timeframe="M1")
    assert dwx_track_prices(("EURUSD", "GBPUSD")) == b"TRACK_PRICES;EURUSD;GBPUSD"


MQL5_JUNK = [
    (b"", "not JSON"),
    (b"\xff\xfe{", "not JSON"),
    (b'{"symbol":"EURUSD","timeframe":"TICK","data":[1,', "not JSON"),
    (b"[1, 2, 3]", "not a JSON object"),
    (b'{"status": 3}', "no timeframe and no status"),
    (b'{"timeframe":"TICK","data":[1,1.1,1.2]}', "symbol is not a string"),
    (b'{"symbol":"EURUSD","timeframe":"TICK","data":"1,1.1,1.2"}', "data is not a list"),
    (b'{"symbol":"EURUSD","timeframe":"TICK","data":[1,1.1]}', "tick data is not"),
    (b'{"symbol":"EURUSD","timeframe":"TICK","data":[true,1.1,1.2]}', "not an integer"),
    (b'{"symbol":"EURUSD","timeframe":"TICK","data":[1.5,1.1,1.2]}', "not an integer"),
    (b'{"symbol":"EURUSD","timeframe":"TICK","data":[1,"1.1",1.2]}', "bid is not a number"),
    (b'{"symbol":"EURUSD","timeframe":"TICK","data":[1,1.1,null]}', "ask is not a number"),
    (b'{"symbol":"EURUSD","timeframe":"M1","data":[1,1,1,1]}', "bar data is not"),
    (b'{"symbol":"EURUSD","timeframe":"S5","data":[1,1.1,1.2]}', "unknown timeframe"),
    (b'{"symbol":"EURUSD","timeframe":{"x":1},"data":[1,1.1,1.2]}', "timeframe is not a str"),
    (b'{"status":"CONNECTED","symbol":"EURUSD","timeframe":null,"data":[1,1.1,1.2]}',
     "timeframe is not a str"),
    (b"[" * 100_000 + b"]" * 100_000, "not"),
]


@pytest.mark.parametrize(("frame", "reason"), MQL5_JUNK)
def test_mql5_junk_is_malformed(frame: bytes, reason: str) -> None:
    with pytest.raises(Malformed, match=reason):
        parse_mql5(frame)


DWX_JUNK = [
    (b"EURUSD 1.1;1.2", "no ':|:' delimiter"),
    (b"EURUSD:|:1.1", "neither"),
    (b"EURUSD:|:1.1;1.2;1.3", "neither"),
    (b"EURUSD:|:abc;1.2", "bid is not a number"),
    ("EURUSD:|:1.1;1.2\u00e9".encode(), "not ASCII"),
    (b"EURUSDM1:|:1;1;1;1;1;1;1;1", "not SYMBOL_TIMEFRAME"),
    (b"EURUSD_M1:|:x;1;1;1;1;1;1;1", "time is not an integer"),
]


@pytest.mark.parametrize(("frame", "reason"), DWX_JUNK)
def test_dwx_junk_is_malformed(frame: bytes, reason: str) -> None:
    with pytest.raises(Malformed, match=reason):
        parse_dwx(frame, recv_us=0)


def test_values_are_the_checkers_business() -> None:
    # NaN and negative prices parse (the shape is right); `checks.TickChecker` turns them away.
    tick = parse_mql5(b'{"symbol":"EURUSD","timeframe":"TICK","data":[1,NaN,-1]}')
    assert tick.bid != tick.bid and tick.ask == -1.0

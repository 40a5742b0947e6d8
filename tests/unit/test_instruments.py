from __future__ import annotations

import dataclasses

import pytest

from underdog.reference.instruments import INSTRUMENTS, SYMBOL_PATTERN, Instrument, get_instrument

REQUIRED = ["EURUSD", "GBPUSD", "USDJPY", "AUDUSD", "USDCHF", "XAUUSD"]


@pytest.mark.parametrize("symbol", REQUIRED)
def test_required_symbols_are_listed_under_their_own_name(symbol: str) -> None:
    assert INSTRUMENTS[symbol].symbol == symbol


@pytest.mark.parametrize("symbol", sorted(INSTRUMENTS))
def test_point_is_1e3_for_jpy_and_gold_else_1e5(symbol: str) -> None:
    expected = 1e-3 if symbol.endswith("JPY") or symbol == "XAUUSD" else 1e-5
    assert INSTRUMENTS[symbol].point == expected


@pytest.mark.parametrize("symbol", sorted(INSTRUMENTS))
def test_reference_values_are_plausible(symbol: str) -> None:
    instrument = INSTRUMENTS[symbol]
    assert SYMBOL_PATTERN.match(symbol)
    assert instrument.base_price > 0
    assert instrument.spread_points >= 1
    # Typical spread is well under 0.1 % of the price and daily vol between 0.1 % and 3 %.
    assert instrument.spread_points * instrument.point < 1e-3 * instrument.base_price
    assert 0.001 < instrument.daily_vol < 0.03


def test_realistic_price_levels() -> None:
    assert 0.9 < INSTRUMENTS["EURUSD"].base_price < 1.4
    assert 100 < INSTRUMENTS["USDJPY"].base_price < 200
    assert 1000 < INSTRUMENTS["XAUUSD"].base_price < 5000


def test_digits_follow_the_point() -> None:
    assert INSTRUMENTS["EURUSD"].digits == 5
    assert INSTRUMENTS["USDJPY"].digits == 3


def test_get_instrument_returns_the_table_entry() -> None:
    assert get_instrument("GBPUSD") is INSTRUMENTS["GBPUSD"]


@pytest.mark.parametrize("bad", ["FOOBAR", "eurusd", "", "EUR/USD"])
def test_unknown_symbol_raises_value_error_naming_known_symbols(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown symbol") as raised:
        get_instrument(bad)
    message = str(raised.value)
    assert repr(bad) in message
    assert all(symbol in message for symbol in REQUIRED)


def test_instrument_is_frozen() -> None:
    instrument = get_instrument("EURUSD")
    with pytest.raises(dataclasses.FrozenInstanceError):
        instrument.point = 1.0  # type: ignore[misc]
    assert isinstance(instrument, Instrument)


@pytest.mark.parametrize("good", ["EURUSD", "XAUUSD", "US500", "ABC", "A" * 16])
def test_symbol_pattern_accepts(good: str) -> None:
    assert SYMBOL_PATTERN.match(good)


@pytest.mark.parametrize("bad", ["AB", "A" * 17, "eurusd", "EUR/USD", "EURUSD ", "EUR.USD"])
def test_symbol_pattern_rejects(bad: str) -> None:
    assert SYMBOL_PATTERN.match(bad) is None

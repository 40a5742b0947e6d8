"""Dukascopy source: .bi5 decoding on files built with the real format, and fetching from a
local HTTP server that serves the datafeed's URL layout (404s, retries, corrupt hours, cache).
"""

from __future__ import annotations

import lzma
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.sources.bi5_feed import (
    Feed,
    bi5,
    bomb,
    closed_port,
    hour_files,
    pack,
    path,
    serve_feed,
)
from underdog.config import load_settings
from underdog.sources import dukascopy
from underdog.sources.dukascopy import (
    TICK_COLUMNS,
    Bi5Error,
    DukascopyUnavailable,
    decode_bi5,
    fetch_ticks,
)
from underdog.sources.simulated import simulate_ticks
from underdog_cli.app import app

HOUR = datetime(2024, 3, 5, 14, tzinfo=UTC)  # a Tuesday afternoon
DAY = datetime(2024, 3, 5, tzinfo=UTC)
RECORDS = [
    (0, 108_512, 108_500, 1.25, 0.75),
    (123, 108_513, 108_501, 0.1, 2.5),
    (123, 108_515, 108_502, 3.3e-05, 1.0),  # same millisecond: order is kept
    (3_599_999, 108_600, 108_590, 12.0, 0.01),
]
FAST = {"tries": 3, "backoff_s": 0.01}


@pytest.fixture
def feed() -> Iterator[Feed]:
    with serve_feed() as served:
        yield served


def fetch(feed: Feed, start: datetime, end: datetime, cache: Path | None = None,
          symbol: str = "EURUSD", **kwargs: object) -> tuple[pd.DataFrame, list]:
    return fetch_ticks(symbol, start, end, base_url=feed.base_url, cache_dir=cache,
                       **{**FAST, **kwargs})


# ---------------------------------------------------------------- decoding


def test_decode_gives_times_prices_and_volumes_of_the_records() -> None:
    ticks = decode_bi5(bi5(RECORDS), symbol="EURUSD", hour=HOUR)
    assert list(ticks.columns) == TICK_COLUMNS
    assert str(ticks["time"].dtype) == "datetime64[ns, UTC]"
    assert list(ticks["time"]) == [pd.Timestamp("2024-03-05T14:00:00.000Z"),
                                   pd.Timestamp("2024-03-05T14:00:00.123Z"),
                                   pd.Timestamp("2024-03-05T14:00:00.123Z"),
                                   pd.Timestamp("2024-03-05T14:59:59.999Z")]
    # ask comes before bid in a record; prices are points x 1e-5, clean decimals
    assert list(ticks["bid"]) == [1.085, 1.08501, 1.08502, 1.0859]
    assert list(ticks["ask"]) == [1.08512, 1.08513, 1.08515, 1.086]
    assert list(ticks["bid_volume"]) == [0.75, 2.5, 1.0, 0.01]
    assert list(ticks["ask_volume"]) == [1.25, 0.1, 3.3e-05, 12.0]  # float32 -> its decimal


@pytest.mark.parametrize(("symbol", "points", "price"), [
    ("EURUSD", 108_500, 1.085), ("USDJPY", 150_123, 150.123), ("XAUUSD", 2_301_450, 2301.45),
    ("GBPJPY", 190_001, 190.001),
])
def test_point_size_comes_from_the_instrument_table(symbol: str, points: int,
                                                    price: float) -> None:
    ticks = decode_bi5(bi5([(5, points + 10, points, 1.0, 1.0)]), symbol=symbol, hour=HOUR)
    assert ticks["bid"].iloc[0] == price


def test_the_hour_may_be_given_in_another_zone() -> None:
    cet = datetime(2024, 3, 5, 15, tzinfo=UTC).astimezone(
        pd.Timestamp("2024-03-05", tz="Europe/Zurich").tzinfo)
    ticks = decode_bi5(bi5(RECORDS[:1]), symbol="EURUSD", hour=cet)
    assert ticks["time"].iloc[0] == pd.Timestamp("2024-03-05T15:00Z")


@pytest.mark.parametrize("data", [b"", lzma.compress(b"", format=lzma.FORMAT_ALONE)],
                         ids=["empty body", "empty stream"])
def test_an_empty_hour_has_no_ticks(data: bytes) -> None:
    ticks = decode_bi5(data, symbol="EURUSD", hour=HOUR)
    assert ticks.empty and list(ticks.columns) == TICK_COLUMNS
    assert str(ticks["time"].dtype) == "datetime64[ns, UTC]"


def _corrupt_files() -> dict[str, tuple[bytes, str]]:
    good = bi5(RECORDS)
    raw = pack(RECORDS)
    return {
        "not lzma": (b"<html>maintenance</html>", "bad LZMA data"),
        "truncated lzma": (good[: len(good) - 7], "bad LZMA data"),
        "partial record": (lzma.compress(raw + b"\x00" * 7, format=lzma.FORMAT_ALONE),
                           "87 bytes is not a whole number of 20-byte records"),
        "offset beyond the hour": (bi5([*RECORDS, (3_600_000, 108_600, 108_590, 1.0, 1.0)]),
                                   "record 4: offset 3600000 ms is beyond the hour"),
        "offsets going back": (bi5([RECORDS[1], RECORDS[0]]),
                               "record 1: offset 0 ms goes back in time"),
        "zero bid": (bi5([RECORDS[0], (200, 108_512, 0, 1.0, 1.0)]),
                     "record 1: zero bid price at 200 ms"),
        "zero ask": (bi5([(7, 0, 108_500, 1.0, 1.0)]), "record 0: zero ask price at 7 ms"),
        "negative volume": (bi5([(7, 108_512, 108_500, -1.0, 1.0)]),
                            "record 0: invalid ask_volume at 7 ms"),
        "nan volume": (bi5([(7, 108_512, 108_500, 1.0, float("nan"))]),
                       "record 0: invalid bid_volume at 7 ms"),
    }


@pytest.mark.parametrize("case", sorted(_corrupt_files()))
def test_a_corrupt_file_raises_a_clear_error_naming_its_hour(case: str) -> None:
    data, message = _corrupt_files()[case]
    with pytest.raises(Bi5Error) as raised:
        decode_bi5(data, symbol="EURUSD", hour=HOUR)
    assert str(raised.value).startswith("EURUSD 2024-03-05T14h: ")
    assert message in str(raised.value)


def test_an_hour_holds_at_most_max_records() -> None:
    assert len(decode_bi5(bi5(RECORDS), symbol="EURUSD", hour=HOUR, max_records=4)) == 4
    with pytest.raises(Bi5Error, match="past 60 bytes .3 records, the ceiling of an hour"):
        decode_bi5(bi5(RECORDS), symbol="EURUSD", hour=HOUR, max_records=3)
    assert dukascopy.MAX_RECORDS * dukascopy.RECORD_SIZE == 20_000_000


T = TypeVar("T")


def traced_peak(call: Callable[[], T]) -> tuple[T, int]:
    """`call()`'s result and the peak of Python memory allocated while it ran (bytes)."""
    tracemalloc.start()
    try:
        return call(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_decompression_bomb_fails_its_hour_in_bounded_memory(feed: Feed) -> None:
    """~15 KB that expand to 100 MB (5 million valid records): refused at the ceiling (20 MB
    of records) without expanding the rest; the next hour loads."""
    data = bomb(100)
    assert len(data) < 50_000
    feed.serve(path("EURUSD", HOUR), data)
    feed.serve(path("EURUSD", HOUR + timedelta(hours=1)), bi5(RECORDS))
    (ticks, failures), peak = traced_peak(lambda: fetch(feed, HOUR, HOUR + timedelta(hours=2)))
    [failure] = failures
    assert failure.hour == HOUR and "ceiling of an hour" in failure.error
    assert failure.error.startswith("EURUSD 2024-03-05T14h: ")
    assert len(ticks) == len(RECORDS) and (ticks["time"] >= HOUR + timedelta(hours=1)).all()
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MiB"  # the bomb alone is 100 MB


def test_an_oversized_download_fails_its_hour_without_being_read_whole(feed: Feed) -> None:
    feed.serve(path("EURUSD", HOUR), b"\x5d" * (100 << 20))  # 100 MB, garbage LZMA
    feed.serve(path("EURUSD", HOUR + timedelta(hours=1)), bi5(RECORDS))
    (ticks, failures), peak = traced_peak(lambda: fetch(feed, HOUR, HOUR + timedelta(hours=2)))
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    [failure] = failures
    assert failure.error == "EURUSD 2024-03-05T14h: the file is over 20,000,000 bytes: refused"
    assert len(ticks) == len(RECORDS)


@pytest.mark.parametrize(("hour", "message"), [
    (datetime(2024, 3, 5, 14), "timezone-aware"),  # noqa: DTZ001
    (datetime(2024, 3, 5, 14, 30, tzinfo=UTC), "on the hour"),
])
def test_a_bad_hour_is_rejected(hour: datetime, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_bi5(bi5(RECORDS), symbol="EURUSD", hour=hour)


def test_an_unknown_symbol_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown symbol 'EURXYZ'"):
        decode_bi5(bi5(RECORDS), symbol="EURXYZ", hour=HOUR)


@pytest.mark.parametrize(("hour", "expected"), [
    (datetime(2024, 1, 9, 0, tzinfo=UTC), "EURUSD/2024/00/09/00h_ticks.bi5"),
    (datetime(2024, 3, 5, 14, tzinfo=UTC), "EURUSD/2024/02/05/14h_ticks.bi5"),
    (datetime(2023, 12, 31, 23, tzinfo=UTC), "EURUSD/2023/11/31/23h_ticks.bi5"),
])
def test_the_url_layout_has_0_based_months(hour: datetime, expected: str) -> None:
    assert dukascopy.hour_path("EURUSD", hour) == expected


# ---------------------------------------------------------------- fetching


def test_a_day_with_closed_empty_retried_and_good_hours(feed: Feed) -> None:
    sim = simulate_ticks("EURUSD", DAY, DAY + timedelta(days=1), seed=1)
    files = hour_files("EURUSD", sim)
    feed.serve_all(files)
    quiet = path("EURUSD", DAY + timedelta(hours=3))
    retried = path("EURUSD", DAY + timedelta(hours=9))
    missing = path("EURUSD", DAY + timedelta(hours=5))
    feed.serve(quiet, b"")  # 200 with an empty body: no ticks that hour
    feed.serve(retried, 503, files[retried])  # a hiccup, then the file
    feed.serve(missing, 404)
    ticks, failures = fetch(feed, DAY, DAY + timedelta(days=1))
    assert failures == []
    hours = sim["time"].dt.hour
    expected = sim[(hours != 3) & (hours != 5)].reset_index(drop=True)
    pd.testing.assert_frame_equal(ticks, expected)
    assert feed.hits(retried) == 2 and feed.hits(quiet) == 1 and feed.hits(missing) == 1
    assert len(feed.requests) == 25


def test_a_corrupt_hour_fails_alone(feed: Feed) -> None:
    sim = simulate_ticks("EURUSD", DAY, DAY + timedelta(hours=4), seed=1)
    feed.serve_all(hour_files("EURUSD", sim))
    bad = path("EURUSD", DAY + timedelta(hours=2))
    feed.serve(bad, b"\x5d\x00\x00\x80\x00garbage")
    ticks, failures = fetch(feed, DAY, DAY + timedelta(hours=4))
    pd.testing.assert_frame_equal(ticks, sim[sim["time"].dt.hour != 2].reset_index(drop=True))
    [failure] = failures
    assert (failure.symbol, failure.hour) == ("EURUSD", DAY + timedelta(hours=2))
    assert failure.url == f"{feed.base_url}/{bad}"
    assert failure.error.startswith("EURUSD 2024-03-05T02h: bad LZMA data")
    assert failure.payload() == {"symbol": "EURUSD", "hour": "2024-03-05T02:00:00+00:00",
                                 "url": failure.url, "error": failure.error}


def test_a_window_inside_hours_keeps_only_its_ticks(feed: Feed) -> None:
    sim = simulate_ticks("USDJPY", DAY, DAY + timedelta(hours=3), seed=2)
    feed.serve_all(hour_files("USDJPY", sim))
    start, end = DAY + timedelta(minutes=30), DAY + timedelta(hours=1, minutes=10)
    ticks, _ = fetch(feed, start, end, symbol="USDJPY")
    inside = sim[(sim["time"] >= start) & (sim["time"] < end)].reset_index(drop=True)
    pd.testing.assert_frame_equal(ticks, inside)
    assert feed.requests == [path("USDJPY", DAY), path("USDJPY", DAY + timedelta(hours=1))]


def test_the_cache_serves_fetched_hours_including_closed_ones(feed: Feed, tmp_path: Path) -> None:
    files = hour_files("EURUSD", simulate_ticks("EURUSD", DAY, DAY + timedelta(hours=2), seed=1))
    feed.serve_all(files)  # hours 2 and 3 are 404s
    first, _ = fetch(feed, DAY, DAY + timedelta(hours=4), cache=tmp_path)
    assert len(feed.requests) == 4 and len(first) > 0
    assert (tmp_path / path("EURUSD", DAY)).read_bytes() == files[path("EURUSD", DAY)]
    assert (tmp_path / path("EURUSD", DAY + timedelta(hours=3))).read_bytes() == b""
    again, _ = fetch(feed, DAY, DAY + timedelta(hours=4), cache=tmp_path)
    assert len(feed.requests) == 4  # nothing asked twice
    pd.testing.assert_frame_equal(again, first)


def test_a_corrupt_hour_is_not_cached_and_a_damaged_cache_is_refetched(
    feed: Feed, tmp_path: Path
) -> None:
    sim = simulate_ticks("EURUSD", DAY, DAY + timedelta(hours=1), seed=1)
    good = hour_files("EURUSD", sim)[path("EURUSD", DAY)]
    feed.serve(path("EURUSD", DAY), b"broken", good)
    _, failures = fetch(feed, DAY, DAY + timedelta(hours=1), cache=tmp_path)
    assert len(failures) == 1 and not (tmp_path / path("EURUSD", DAY)).exists()
    ticks, failures = fetch(feed, DAY, DAY + timedelta(hours=1), cache=tmp_path)
    assert failures == [] and len(ticks) == len(sim)
    (tmp_path / path("EURUSD", DAY)).write_bytes(b"bit rot")
    ticks, failures = fetch(feed, DAY, DAY + timedelta(hours=1), cache=tmp_path)
    assert failures == [] and len(ticks) == len(sim) and feed.hits(path("EURUSD", DAY)) == 3


def test_a_recent_hour_is_not_cached(feed: Feed, tmp_path: Path) -> None:
    now = pd.Timestamp.now(tz="UTC").floor("h").to_pydatetime()
    fetch(feed, now, now + timedelta(hours=1), cache=tmp_path)  # a 404: not published yet
    assert feed.hits(path("EURUSD", now)) == 1
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_a_persistent_server_error_raises_after_the_tries(feed: Feed, status: int) -> None:
    feed.serve(path("EURUSD", HOUR), status)
    with pytest.raises(DukascopyUnavailable, match=f"after 3 attempt.*HTTP {status}"):
        fetch(feed, HOUR, HOUR + timedelta(hours=1))
    assert feed.hits(path("EURUSD", HOUR)) == 3


def test_a_client_error_is_not_retried(feed: Feed) -> None:
    feed.serve(path("EURUSD", HOUR), 403)
    with pytest.raises(DukascopyUnavailable, match="403"):
        fetch(feed, HOUR, HOUR + timedelta(hours=1))
    assert feed.hits(path("EURUSD", HOUR)) == 1


def test_a_timeout_is_retried(feed: Feed) -> None:
    data = bi5(RECORDS)
    feed.serve(path("EURUSD", HOUR), (200, data, 1.0), data)
    ticks, _ = fetch(feed, HOUR, HOUR + timedelta(hours=1), timeout_s=0.2)
    assert len(ticks) == len(RECORDS) and feed.hits(path("EURUSD", HOUR)) == 2


def test_an_unreachable_server_raises_after_the_tries() -> None:
    with pytest.raises(DukascopyUnavailable, match="after 3 attempt"):
        fetch_ticks("EURUSD", HOUR, HOUR + timedelta(hours=1),
                    base_url=f"http://127.0.0.1:{closed_port()}/datafeed", cache_dir=None,
                    **FAST)


def test_naive_windows_are_rejected_before_any_request(feed: Feed) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        fetch(feed, datetime(2024, 3, 5), HOUR)  # noqa: DTZ001
    assert feed.requests == []


def test_the_base_url_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNDERDOG_DUKASCOPY_BASE_URL", raising=False)
    assert load_settings().market.dukascopy.base_url == dukascopy.DEFAULT_BASE_URL
    monkeypatch.setenv("UNDERDOG_DUKASCOPY_BASE_URL", "http://127.0.0.1:9/feed")
    monkeypatch.setenv("UNDERDOG_DUKASCOPY_CACHE_DIR", "/tmp/bi5")
    settings = load_settings()
    assert settings.market.dukascopy.base_url == "http://127.0.0.1:9/feed"
    assert settings.market.dukascopy.cache_dir == "/tmp/bi5"


# ---------------------------------------------------------------- CLI


def test_decode_bi5_prints_csv(tmp_path: Path) -> None:
    file = tmp_path / "14h_ticks.bi5"
    file.write_bytes(bi5([(0, 150_512, 150_500, 1.25, 0.75), (123, 150_513, 150_501, 0.1, 2.5),
                          (3_599_999, 150_600, 150_590, 12.0, 0.01)]))
    result = CliRunner().invoke(
        app, ["market", "decode-bi5", str(file), "--symbol", "USDJPY", "--hour", "2024-03-05T14"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "time,bid,ask,bid_volume,ask_volume\n"
        "2024-03-05T14:00:00.000Z,150.500,150.512,0.75,1.25\n"
        "2024-03-05T14:00:00.123Z,150.501,150.513,2.5,0.1\n"
        "2024-03-05T14:59:59.999Z,150.590,150.600,0.01,12.0\n"
    )


def test_decode_bi5_prints_five_decimals_for_eurusd(tmp_path: Path) -> None:
    file = tmp_path / "x.bi5"
    file.write_bytes(bi5([(42, 108_510, 108_500, 1.0, 1.0)]))
    result = CliRunner().invoke(
        app, ["market", "decode-bi5", str(file), "--symbol", "eurusd", "--hour", "2024-01-02T00"]
    )
    assert result.stdout.splitlines()[1] == "2024-01-02T00:00:00.042Z,1.08500,1.08510,1.0,1.0"


def test_decode_bi5_of_an_empty_file_prints_the_header_only(tmp_path: Path) -> None:
    file = tmp_path / "closed.bi5"
    file.write_bytes(b"")
    result = CliRunner().invoke(
        app, ["market", "decode-bi5", str(file), "--symbol", "EURUSD", "--hour", "2024-03-09T10"]
    )
    assert result.exit_code == 0 and result.stdout == "time,bid,ask,bid_volume,ask_volume\n"


@pytest.mark.parametrize(("content", "hour", "message"), [
    (b"garbage", "2024-03-05T14", "EURUSD 2024-03-05T14h: bad LZMA data"),
    (bi5(RECORDS), "2024-03-05 at two", "Invalid value for '--hour'"),
    (bi5(RECORDS), "2024-03-05T14:30", "on the hour"),
])
def test_decode_bi5_fails_clearly(tmp_path: Path, content: bytes, hour: str,
                                  message: str) -> None:
    file = tmp_path / "x.bi5"
    file.write_bytes(content)
    result = CliRunner().invoke(
        app, ["market", "decode-bi5", str(file), "--symbol", "EURUSD", "--hour", hour]
    )
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())  # Rich wraps long lines
    assert "time,bid" not in result.output


def test_decode_bi5_refuses_a_bomb_on_one_stderr_line(tmp_path: Path) -> None:
    file = tmp_path / "bomb.bi5"
    file.write_bytes(bomb(100))
    result = CliRunner().invoke(
        app, ["market", "decode-bi5", str(file), "--symbol", "EURUSD", "--hour", "2024-03-05T14"]
    )
    assert result.exit_code == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: bomb.bi5: EURUSD 2024-03-05T14h: ")
    assert "ceiling of an hour" in line


def test_decoded_prices_are_exact_decimals_over_a_simulated_day() -> None:
    sim = simulate_ticks("GBPJPY", DAY, DAY + timedelta(hours=1), seed=4)
    [data] = hour_files("GBPJPY", sim).values()
    ticks = decode_bi5(data, symbol="GBPJPY", hour=DAY)
    pd.testing.assert_frame_equal(ticks, sim)
    assert np.all(np.round(ticks["bid"], 3) == ticks["bid"])


def test_encode_bi5_is_the_inverse_of_decode() -> None:
    ticks = decode_bi5(bi5(RECORDS), symbol="EURUSD", hour=HOUR)
    again = decode_bi5(dukascopy.encode_bi5(ticks, symbol="EURUSD", hour=HOUR),
                       symbol="EURUSD", hour=HOUR)
    pd.testing.assert_frame_equal(again, ticks)
    # Byte for byte the records the hand-built file holds (any LZMA preset decodes alike).
    raw = lzma.decompress(dukascopy.encode_bi5(ticks, symbol="EURUSD", hour=HOUR))
    assert raw == pack(RECORDS)
    assert dukascopy.encode_bi5(ticks.iloc[:0], symbol="EURUSD", hour=HOUR) == b""


def test_encode_bi5_refuses_what_the_format_cannot_carry() -> None:
    ticks = decode_bi5(bi5(RECORDS), symbol="EURUSD", hour=HOUR)
    off_grid = ticks.assign(bid=ticks["bid"] + 1e-6)
    with pytest.raises(ValueError, match="off the 1e-05 grid"):
        dukascopy.encode_bi5(off_grid, symbol="EURUSD", hour=HOUR)
    with pytest.raises(ValueError, match="outside the hour"):
        dukascopy.encode_bi5(ticks, symbol="EURUSD", hour=HOUR + timedelta(hours=1))
    with pytest.raises(ValueError, match="missing bid_volume"):
        dukascopy.encode_bi5(ticks.assign(bid_volume=np.nan), symbol="EURUSD", hour=HOUR)

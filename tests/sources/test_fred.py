"""FRED through fredapi against a local server speaking FRED's XML: vintages, ".", retries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from tests.macro.servers import FRED_KEY, FRED_PREFIX, FredServer, Stub, fred_error, serve
from tests.sources.bi5_feed import closed_port
from underdog.config import ConfigError, load_settings
from underdog.macro.vintages import choose_source
from underdog.sources import fred
from underdog.sources.fred import (
    FIXTURE,
    FixtureSource,
    FredClient,
    FredError,
    FredUnavailable,
    NotInFixture,
)

FAST = {"tries": 3, "backoff_s": 0.01}
SERIES = json.loads(FIXTURE.read_text())["series"]
OBSERVATIONS = f"{FRED_PREFIX}/series/observations"


@pytest.fixture
def server() -> Iterator[Stub]:
    with serve(FredServer(SERIES).route) as stub:
        yield stub


def client(stub: Stub, key: str = FRED_KEY, **kwargs: object) -> FredClient:
    return FredClient(key, base_url=stub.base_url + FRED_PREFIX, **{**FAST, **kwargs})


@pytest.mark.parametrize("series_id", ["VIXCLS", "DFF", "T10Y2Y"])
def test_every_vintage_read_through_fredapi_equals_the_records_served(
    server: Stub, series_id: str
) -> None:
    got = client(server).vintages(series_id)
    records = SERIES[series_id]["observations"]
    assert len(got.observations) == len(records)
    expected = FixtureSource().vintages(series_id)  # the same records, parsed without FRED
    pd.testing.assert_frame_equal(got.observations, expected.observations)
    assert got.info == expected.info


def test_vintages_ask_for_the_whole_real_time_period_with_the_key(server: Stub) -> None:
    client(server).vintages("VIXCLS")
    [info, observations] = server.requests
    assert info.path == f"{FRED_PREFIX}/series" and info.query["series_id"] == "VIXCLS"
    # a narrower period would have FRED clip realtime_start: invented vintages
    assert observations.path == OBSERVATIONS
    assert observations.query == {"series_id": "VIXCLS", "realtime_start": "1776-07-04",
                                  "realtime_end": "9999-12-31", "api_key": FRED_KEY}


def test_revisions_and_missing_values_are_kept_apart(server: Stub) -> None:
    obs = client(server).vintages("VIXCLS").observations
    feb13 = obs[obs["date"] == "2024-02-13"]
    assert feb13["realtime_start"].dt.strftime("%Y-%m-%d").tolist() == ["2024-02-14",
                                                                       "2024-02-16"]
    assert feb13["value"].tolist() == [15.85, 15.79]
    jan26 = obs[obs["date"] == "2024-01-26"]["value"].tolist()  # "." first, then a print
    assert pd.isna(jan26[0]) and jan26[1] == 13.35
    holiday = obs[obs["date"] == "2024-01-15"]["value"]
    assert holiday.isna().all() and len(holiday) == 1  # "." is missing, never 0
    assert (obs["value"] != 0).all()


def test_series_info_gives_names_units_frequency_and_an_aware_last_update(server: Stub) -> None:
    info = client(server).info("T10Y2Y")
    assert info.title.startswith("10-Year Treasury Constant Maturity Minus 2-Year")
    assert (info.units, info.frequency) == ("Percent", "D")
    assert info.last_updated == datetime(2024, 3, 15, 16, 2, 11,
                                         tzinfo=timezone(timedelta(hours=-5)))


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_and_rate_limits_are_retried(server: Stub, status: int) -> None:
    server.queue(OBSERVATIONS, fred_error(status, "Too Many Requests.  Exceeded Rate Limit"))
    got = client(server).vintages("DFF")
    assert len(got.observations) == len(SERIES["DFF"]["observations"])
    assert server.hits(OBSERVATIONS) == 2


def test_a_persistent_error_raises_after_the_tries_without_the_key(server: Stub) -> None:
    server.queue(OBSERVATIONS, *[(503, b"<html>down</html>")] * 3)
    with pytest.raises(FredUnavailable, match="after 3 attempt.*HTTP 503") as raised:
        client(server).vintages("DFF")
    assert FRED_KEY not in str(raised.value) and raised.value.__cause__ is None
    assert server.hits(OBSERVATIONS) == 3


def test_a_body_that_is_not_xml_is_retried(server: Stub) -> None:
    server.queue(OBSERVATIONS, (200, b"<html>maintenance"))
    assert len(client(server).vintages("DFF").observations) > 0
    assert server.hits(OBSERVATIONS) == 2


def test_a_timeout_is_retried(server: Stub) -> None:
    server.queue(OBSERVATIONS, (200, b"", 1.0))
    assert len(client(server, timeout_s=0.2).vintages("DFF").observations) > 0
    assert server.hits(OBSERVATIONS) == 2


def test_a_bad_key_is_freds_message_not_retried_and_not_leaked(server: Stub) -> None:
    with pytest.raises(FredError, match="api_key is not registered") as raised:
        client(server, key="wrong-key-123").vintages("DFF")
    assert "wrong-key-123" not in str(raised.value)
    assert len(server.requests) == 1


def test_an_unknown_series_is_freds_message(server: Stub) -> None:
    with pytest.raises(FredError, match="series does not exist"):
        client(server).vintages("NOPE")


@pytest.mark.parametrize("series_id", ["VIXCLS&file_type=json&realtime_start=2020-01-01",
                                       "VIX CLS", "VIXCLS#", "../series", ""])
def test_an_id_outside_freds_alphabet_is_refused_before_any_request(server: Stub,
                                                                    series_id: str) -> None:
    with pytest.raises(FredError, match="is not a FRED series id"):
        client(server).vintages(series_id)
    with pytest.raises(FredError, match="is not a FRED series id"):
        client(server).info(series_id)
    assert server.requests == []  # fredapi pastes the id into the URL unencoded


def test_an_unreachable_server_raises_after_the_tries() -> None:
    unreachable = FredClient(FRED_KEY, base_url=f"http://127.0.0.1:{closed_port()}/fred",
                             **FAST)
    with pytest.raises(FredUnavailable, match="after 3 attempt") as raised:
        unreachable.info("DFF")
    assert FRED_KEY not in str(raised.value)


def test_the_fixture_has_the_state_vector_series_and_says_what_it_lacks() -> None:
    fixture = FixtureSource()
    assert set(fixture.series) == {"VIXCLS", "DFF", "T10Y2Y"}
    with pytest.raises(NotInFixture, match="CPIAUCSL is not in the fixture"):
        fixture.vintages("CPIAUCSL")


def test_without_a_key_fred_is_not_used() -> None:
    with pytest.raises(FredError, match="UNDERDOG_FRED_API_KEY"):
        FredClient("")
    assert choose_source("auto", api_key=None, base_url="x")[1] == "fixture"
    source, label = choose_source("fred", api_key=None, base_url="x")
    assert source is None and "UNDERDOG_FRED_API_KEY is not set" in label
    assert choose_source("fred", api_key="k", base_url="x")[1] == "fred"
    with pytest.raises(ValueError, match="auto, fixture, fred"):
        choose_source("alfred", api_key="k", base_url="x")


def test_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FRED_API_KEY", "FRED_BASE_URL", "FRED_SERIES", "MACRO_SOURCE"):
        monkeypatch.delenv(f"UNDERDOG_{name}", raising=False)
    settings = load_settings().macro.fred
    assert settings.base_url == fred.DEFAULT_BASE_URL and settings.api_key is None
    assert settings.series == ["VIXCLS", "DFF", "T10Y2Y", "DGS10", "DGS2", "CPIAUCSL",
                               "UNRATE"]
    monkeypatch.setenv("UNDERDOG_FRED_API_KEY", "")  # as copied from .env.example
    monkeypatch.setenv("UNDERDOG_FRED_SERIES", " vixcls, dff ")
    monkeypatch.setenv("UNDERDOG_FRED_BASE_URL", "http://127.0.0.1:9/fred")
    settings = load_settings().macro.fred
    assert settings.api_key is None and settings.series == ["VIXCLS", "DFF"]
    assert settings.base_url == "http://127.0.0.1:9/fred"
    monkeypatch.setenv("UNDERDOG_FRED_API_KEY", "abc123")
    assert "abc123" not in repr(load_settings())
    monkeypatch.setenv("UNDERDOG_FRED_SERIES", "VIXCLS,DFF&file_type=json")
    with pytest.raises(ConfigError, match="UNDERDOG_FRED_SERIES.*not a FRED series id"):
        load_settings()

"""Alpha Vantage INSIDER_TRANSACTIONS against a local stand-in: data, the 200 rate-limit notes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.macro.servers import (
    AV_KEY,
    RATE_INFORMATION,
    RATE_NOTE,
    AlphaVantageServer,
    Stub,
    serve,
)
from underdog.insider.transactions import alphavantage_rows, fetch_and_write
from underdog.sources.alphavantage_insider import (
    AlphaVantageError,
    AlphaVantageInsider,
    AlphaVantageRateLimited,
    AlphaVantageUnavailable,
)
from underdog.store.db import Database

FAST = {"tries": 3, "backoff_s": 0.01}
IBM = [
    {"transaction_date": "2024-03-01", "ticker": "IBM", "executive": "KRISHNA, ARVIND",
     "executive_title": "Chairman, President and CEO", "security_type": "Common Stock",
     "acquisition_or_disposal": "D", "shares": "10000.0", "share_price": "185.5"},
    {"transaction_date": "2024-02-28", "ticker": "IBM", "executive": "SMITH, JANE",
     "executive_title": "Director", "security_type": "Restricted Stock Unit",
     "acquisition_or_disposal": "A", "shares": "1200.0", "share_price": "0.0"},
    {"transaction_date": "2024-02-28", "ticker": "IBM", "executive": "SMITH, JANE",
     "executive_title": "Director", "security_type": "Restricted Stock Unit",
     "acquisition_or_disposal": "A", "shares": "1200.0", "share_price": "0.0"},
]
NOW = datetime(2024, 3, 6, 1, tzinfo=UTC)


@pytest.fixture
def av() -> Iterator[Stub]:
    with serve(AlphaVantageServer({"IBM": IBM}).route) as stub:
        yield stub


def client(stub: Stub, key: str = AV_KEY) -> AlphaVantageInsider:
    return AlphaVantageInsider(key, base_url=stub.base_url, **FAST)


def test_transactions_are_read_as_listed(av: Stub) -> None:
    assert client(av).transactions("ibm") == IBM
    [request] = av.requests
    assert request.path == "/query"
    assert request.query == {"function": "INSIDER_TRANSACTIONS", "symbol": "IBM",
                             "apikey": AV_KEY}


@pytest.mark.parametrize("notice", [RATE_NOTE, RATE_INFORMATION], ids=["Note", "Information"])
def test_a_200_rate_limit_notice_is_not_data(av: Stub, notice: dict) -> None:
    av.queue("/query", (200, json.dumps(notice).encode()))
    with pytest.raises(AlphaVantageRateLimited, match="Thank you for using Alpha Vantage"):
        client(av).transactions("IBM")
    assert len(av.requests) == 1  # the limit will not lift in a few seconds: no retry


def test_an_error_message_and_other_shapes_are_errors(av: Stub) -> None:
    with pytest.raises(AlphaVantageError, match="Invalid API call"):
        client(av).transactions("NOPE")
    av.queue("/query", (200, b"[]"), (200, b'{"meta": {}}'), (200, b"<html>"))
    for message in ("not a JSON object", "unexpected answer with keys \\['meta'\\]",
                    "not JSON"):
        with pytest.raises(AlphaVantageError, match=message):
            client(av).transactions("IBM")


def test_server_errors_are_retried_and_the_key_never_shows(av: Stub) -> None:
    av.queue("/query", (503, b""))
    assert len(client(av).transactions("IBM")) == 3
    av.queue("/query", *[(502, b"")] * 3)
    with pytest.raises(AlphaVantageUnavailable, match="after 3 attempt") as raised:
        client(av).transactions("IBM")
    assert AV_KEY not in str(raised.value) and raised.value.__cause__ is None
    with pytest.raises(AlphaVantageError, match="UNDERDOG_ALPHAVANTAGE_API_KEY"):
        AlphaVantageInsider("")


def test_rows_have_stable_keys_and_identical_trades_are_numbered() -> None:
    rows = alphavantage_rows(IBM, ticker="IBM", issuer_cik="0000051143", seen_at=NOW)
    again = alphavantage_rows(list(reversed(IBM)), ticker="IBM", issuer_cik=None, seen_at=NOW)
    assert rows["accession"].str.startswith("AV:IBM:").all()
    assert rows["accession"].iloc[1] == rows["accession"].iloc[2]
    assert rows["line"].tolist() == [1, 1, 2]
    assert set(zip(rows["accession"], rows["line"], strict=True)) == set(
        zip(again["accession"], again["line"], strict=True))
    assert again["issuer_cik"].eq("IBM").all() and rows["issuer_cik"].eq("0000051143").all()
    assert rows["price"].tolist() == [185.5, 0.0, 0.0] and rows["code"].isna().all()


def stored(db: Database) -> list[tuple]:
    with db.connection() as conn:
        return conn.execute("SELECT accession, line, owner, shares, price, filed_at,"
                            " available_at FROM underdog.insider_transactions"
                            " ORDER BY accession, line").fetchall()


def test_trades_are_known_when_first_seen_and_keep_that_time(av: Stub, db: Database) -> None:
    day = datetime(2024, 3, 5, tzinfo=UTC)
    run = fetch_and_write(db, ["IBM"], day, day + timedelta(days=1), edgar=None,
                          alphavantage=client(av), now=NOW)
    assert run.result.written == 3 and run.alphavantage == "3 rows"
    first = stored(db)
    assert all(r[5] == r[6] == NOW for r in first)
    fetch_and_write(db, ["IBM"], day, day + timedelta(days=1), edgar=None,
                    alphavantage=client(av), now=NOW + timedelta(hours=5))
    assert stored(db) == first  # the rerun did not move them later


def test_rate_limited_or_old_windows_write_nothing(av: Stub, db: Database) -> None:
    day = datetime(2024, 3, 5, tzinfo=UTC)
    av.queue("/query", (200, json.dumps(RATE_NOTE).encode()))
    run = fetch_and_write(db, ["IBM", "MSFT"], day, day + timedelta(days=1), edgar=None,
                          alphavantage=client(av), now=NOW)
    assert run.alphavantage.startswith("0 rows; rate limited: IBM: Thank you")
    assert stored(db) == [] and len(av.requests) == 1  # MSFT not asked after the notice
    old = fetch_and_write(db, ["IBM"], day - timedelta(days=30), day - timedelta(days=29),
                          edgar=None, alphavantage=client(av), now=NOW)
    assert old.alphavantage.startswith("skipped") and len(av.requests) == 1

"""SEC EDGAR against a local stand-in: User-Agent, 10 requests/s, submissions, Form 4 XML."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.helpers import dead_letters
from tests.macro.edgar_data import CIK, FOLDER, FORM4, FORM4A, edgar_server
from tests.macro.servers import EDGAR_UA, Stub, serve
from underdog.insider.transactions import fetch_and_write, parse_form4, transactions_csv
from underdog.sources.edgar import (
    EdgarClient,
    EdgarConfigError,
    EdgarError,
    EdgarUnavailable,
    RateLimiter,
    accepted_at,
    raw_document,
)
from underdog.store.db import Database
from underdog_cli.app import app

FAST = {"tries": 3, "backoff_s": 0.01}
SUBMISSIONS = f"/submissions/CIK{CIK}.json"
MAR5 = datetime(2024, 3, 5, tzinfo=UTC)
MAR6 = datetime(2024, 3, 6, tzinfo=UTC)


@pytest.fixture
def sec() -> Iterator[Stub]:
    with serve(edgar_server().route) as stub:
        yield stub


def client(stub: Stub, **kwargs: object) -> EdgarClient:
    return EdgarClient(EDGAR_UA, base_url=stub.base_url, archives_url=stub.base_url,
                       **{**FAST, **kwargs})


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# ---------------------------------------------------------------- rate limit


def test_the_limiter_allows_ten_per_second_and_waits_for_the_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(25):
        limiter.acquire()
        times.append(clock.now)
        clock.now += 0.01  # each request takes 10 ms
    assert times[:10] == pytest.approx([1000 + 0.01 * i for i in range(10)])
    assert times[10] == pytest.approx(1001.0)  # the 11th waits until the 1st is 1 s old
    for i in range(len(times) - 10):
        assert times[i + 10] - times[i] >= 1.0 - 1e-9  # no 11 requests inside any second
    assert sum(clock.slept) == pytest.approx(times[-1] - 1000 - 0.01 * 24)


def test_the_limiter_is_shared_by_threads() -> None:
    clock = FakeClock()
    limiter = RateLimiter(calls=10, period_s=1.0, clock=clock, sleep=clock.sleep)
    threads = [threading.Thread(target=lambda: [limiter.acquire() for _ in range(5)])
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.now >= 1002.0  # 30 requests need at least three windows


class CountingLimiter(RateLimiter):
    def __init__(self) -> None:
        super().__init__()
        self.acquired = 0

    def acquire(self) -> None:
        self.acquired += 1
        super().acquire()


def test_every_request_and_retry_goes_through_the_limiter(sec: Stub) -> None:
    limiter = CountingLimiter()
    sec.queue(SUBMISSIONS, (503, b""))
    edgar = client(sec, limiter=limiter)
    [filing] = edgar.filings(CIK, MAR5, MAR6)
    edgar.document(filing)
    assert limiter.acquired == len(sec.requests) == 3


def test_requests_reach_the_server_at_most_ten_per_second(sec: Stub) -> None:
    edgar = client(sec, limiter=RateLimiter(calls=10, period_s=0.25))  # a 4x faster window
    for _ in range(23):
        edgar.submissions(CIK)
    arrivals = [r.at for r in sec.requests]
    assert all(b - a >= 0.25 - 0.02 for a, b in zip(arrivals, arrivals[10:], strict=False))
    assert arrivals[-1] - arrivals[0] >= 0.5 - 0.02


# ---------------------------------------------------------------- client


def test_a_user_agent_is_required_before_any_request(sec: Stub) -> None:
    for agent in (None, "", "no contact"):
        with pytest.raises(EdgarConfigError, match="UNDERDOG_SEC_USER_AGENT"):
            EdgarClient(agent, base_url=sec.base_url)
    assert sec.requests == []


def test_the_user_agent_is_sent(sec: Stub) -> None:
    client(sec).submissions(CIK)
    assert sec.requests[0].headers["User-Agent"] == EDGAR_UA


def test_form4_filings_of_a_window_by_conservative_acceptance_time(sec: Stub) -> None:
    filings = client(sec).filings(CIK, MAR5, MAR6)
    # 18:30 "Z" is New York wall time: 23:30 UTC on Mar 5. The 4/A accepted at 21:40 New
    # York time is Mar 6 in UTC; the 8-K is not a Form 4.
    [filing] = filings
    assert (filing.accession, filing.form) == ("0000320193-24-000042", "4")
    assert filing.accepted_at == datetime(2024, 3, 5, 23, 30, 12, tzinfo=UTC)
    assert filing.document == "wk-form4_1709681412.xml"  # not the XSL-rendered view
    [amendment] = client(sec).filings(CIK, MAR6, datetime(2024, 3, 7, tzinfo=UTC))
    assert amendment.form == "4/A" and amendment.filing_date == date(2024, 3, 6)


def test_an_older_window_reads_the_older_submissions_page(sec: Stub) -> None:
    [old] = client(sec).filings(CIK, datetime(2023, 6, 1, tzinfo=UTC),
                                datetime(2023, 6, 2, tzinfo=UTC))
    assert old.accession == "0000320193-23-000077" and old.document == "wf-form4_1685656800.xml"
    assert sec.hits("/submissions/CIK0000320193-submissions-001.json") == 1
    client(sec).filings(CIK, MAR5, MAR6)
    assert sec.hits("/submissions/CIK0000320193-submissions-001.json") == 1  # not needed


def test_documents_tickers_and_urls(sec: Stub) -> None:
    edgar = client(sec)
    [filing] = edgar.filings(CIK, MAR5, MAR6)
    assert edgar.document_url(filing) == (f"{sec.base_url}{FOLDER}/000032019324000042/"
                                          "wk-form4_1709681412.xml")
    assert edgar.document(filing) == FORM4
    assert edgar.ticker_ciks() == {"AAPL": CIK, "JPM": "0000019617"}


@pytest.mark.parametrize(("text", "utc"), [
    ("2024-03-05T18:30:12.000Z", "2024-03-05T23:30:12Z"),  # EST
    ("2024-07-01T09:00:00.000Z", "2024-07-01T13:00:00Z"),  # EDT
])
def test_acceptance_wall_time_is_read_as_new_york_time(text: str, utc: str) -> None:
    assert accepted_at(text) == pd.Timestamp(utc)


def test_the_xsl_view_is_mapped_to_the_xml_document() -> None:
    assert raw_document("xslF345X05/wk-form4_1.xml") == "wk-form4_1.xml"
    assert raw_document("wk-form4_1.xml") == "wk-form4_1.xml"


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_are_retried(sec: Stub, status: int) -> None:
    sec.queue(SUBMISSIONS, (status, b""))
    assert client(sec).submissions(CIK)["name"] == "Apple Inc."
    assert sec.hits(SUBMISSIONS) == 2


def test_persistent_errors_and_refusals(sec: Stub) -> None:
    sec.queue(SUBMISSIONS, *[(503, b"")] * 3)
    with pytest.raises(EdgarUnavailable, match="after 3 attempt.*HTTP 503"):
        client(sec).submissions(CIK)
    sec.queue(SUBMISSIONS, (403, b"Request Rate Threshold Exceeded"))
    with pytest.raises(EdgarError, match="HTTP 403.*User-Agent"):
        client(sec).submissions(CIK)
    with pytest.raises(EdgarError, match="HTTP 404"):
        client(sec).submissions("0000000001")
    assert sec.hits(SUBMISSIONS) == 4  # 403 not retried


# ---------------------------------------------------------------- Form 4


def test_form4_transactions_non_derivative_then_derivative() -> None:
    rows = parse_form4(FORM4)
    assert [(t.line, t.derivative, t.code, t.shares, t.price, t.acquired_disposed)
            for t in rows] == [(1, False, "M", 8000.0, None, "A"),
                               (2, False, "S", 4200.5, 175.1025, "D"),
                               (3, True, "M", 8000.0, 0.0, "D")]
    assert rows[1].transaction_date == date(2024, 3, 4)  # "2024-03-04-05:00"
    assert rows[1].owned_after == 98144.5 and rows[2].security == "Restricted Stock Unit"
    assert {(t.owner, t.issuer, t.issuer_cik) for t in rows} == {
        ("Doe Jane Q", "Apple Inc.", CIK)}


def test_parse_form4_prints_csv(tmp_path: Path) -> None:
    file = tmp_path / "form4.xml"
    file.write_bytes(FORM4)
    result = CliRunner().invoke(app, ["insider", "parse-form4", str(file)])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "security,date,code,shares,price,acquired_disposed,owned_after,owner,issuer,derivative\n"
        "Common Stock,2024-03-01,M,8000,,A,102345,Doe Jane Q,Apple Inc.,false\n"
        "Common Stock,2024-03-04,S,4200.5,175.1025,D,98144.5,Doe Jane Q,Apple Inc.,false\n"
        "Restricted Stock Unit,2024-03-01,M,8000,0,D,16000,Doe Jane Q,Apple Inc.,true\n"
    )
    assert transactions_csv([]) == result.stdout.splitlines(keepends=True)[0]


@pytest.mark.parametrize(("content", "message"), [
    (b"<html>not found</html", "not XML"),
    (b"<edgarSubmission/>", "not a Form 4 ownership document"),
])
def test_parse_form4_fails_clearly(tmp_path: Path, content: bytes, message: str) -> None:
    file = tmp_path / "x.xml"
    file.write_bytes(content)
    result = CliRunner().invoke(app, ["insider", "parse-form4", str(file)])
    assert result.exit_code == 2 and message in " ".join(result.output.split())


# ---------------------------------------------------------------- into the database


def stored(db: Database) -> list[tuple]:
    with db.connection() as conn:
        return conn.execute(
            "SELECT accession, line, issuer_cik, owner, derivative, transaction_date, code,"
            " shares, price, filed_at, available_at FROM underdog.insider_transactions"
            " ORDER BY accession, line").fetchall()


def test_form4s_of_a_day_are_written_once_with_filed_at_as_available_at(
    sec: Stub, db: Database
) -> None:
    now = datetime(2024, 3, 7, tzinfo=UTC)
    run = fetch_and_write(db, ["AAPL"], MAR5, MAR6, edgar=client(sec), alphavantage=None,
                          now=now)
    assert run.filings == 1 and run.result.written == 3 and run.unknown == []
    rows = stored(db)
    accepted = datetime(2024, 3, 5, 23, 30, 12, tzinfo=UTC)
    assert [(r[0], r[1], r[4], r[6]) for r in rows] == [
        ("0000320193-24-000042", 1, False, "M"), ("0000320193-24-000042", 2, False, "S"),
        ("0000320193-24-000042", 3, True, "M")]
    assert all(r[9] == r[10] == accepted and r[2] == CIK for r in rows)
    fetch_and_write(db, ["AAPL"], MAR5, MAR6, edgar=client(sec), alphavantage=None, now=now)
    assert stored(db) == rows  # a rerun rewrites the same rows


def test_an_unreadable_filing_is_dead_lettered_and_the_others_load(db: Database) -> None:
    server = edgar_server()
    del server.documents[f"{FOLDER}/000032019324000050/wk-form4a_1709700000.xml"]
    with serve(server.route) as stub:
        run = fetch_and_write(db, [CIK, "MSFT"], MAR5, datetime(2024, 3, 7, tzinfo=UTC),
                              edgar=client(stub), alphavantage=None, now=MAR6)
    assert run.filings == 1 and run.unknown == ["MSFT"] and run.result.written == 3
    [failure] = run.failed
    assert failure["accession"] == "0000320193-24-000050" and "HTTP 404" in failure["error"]
    [(table, reason, payload)] = dead_letters(db)
    assert table == "insider_transactions" and reason.startswith("unreadable Form 4")
    assert payload["accession"] == "0000320193-24-000050"


FORM4A_PATH = f"{FOLDER}/000032019324000050/wk-form4a_1709700000.xml"


@pytest.mark.parametrize(("good", "bad", "reason"), [
    (b"<value>1,500</value>", b"<value>1,5OO</value>",
     "transaction 1 (derivative): transactionShares '1,5OO' is not a number"),
    (b"<value>1,500</value>", b"<value>nan</value>",
     "transaction 1 (derivative): transactionShares 'nan' is not a finite number"),
    (b"<value>1500</value>", b"<value>Infinity</value>",
     "ownedFollowingTransaction 'Infinity' is not a finite number"),
    (b"<transactionDate><value>2024-03-04</value>", b"<transactionDate><value>2024-02-30</value>",
     "transaction 1 (derivative): transactionDate '2024-02-30' is not a date"),
])
def test_a_filing_with_a_bad_value_is_dead_lettered_and_the_run_stores_the_others(
    db: Database, good: bytes, bad: bytes, reason: str,
) -> None:
    server = edgar_server()
    assert good in FORM4A
    server.documents[FORM4A_PATH] = FORM4A.replace(good, bad)
    with serve(server.route) as stub:
        run = fetch_and_write(db, [CIK], MAR5, datetime(2024, 3, 7, tzinfo=UTC),
                              edgar=client(stub), alphavantage=None, now=MAR6)
    assert run.filings == 1 and run.result.written == 3  # the good Form 4 of the window
    assert {r[0] for r in stored(db)} == {"0000320193-24-000042"}
    [(table, stored_reason, payload)] = dead_letters(db)
    assert table == "insider_transactions" and reason in stored_reason
    assert stored_reason.startswith("unreadable Form 4")
    assert payload["accession"] == "0000320193-24-000050" and reason in payload["error"]


@pytest.mark.parametrize(("field", "value"), [
    ("acceptanceDateTime", "2024-02-30T21:40:00.000Z"), ("filingDate", "2024-13-06"),
])
def test_a_submissions_entry_with_an_impossible_date_is_dead_lettered(
    db: Database, field: str, value: str,
) -> None:
    server = edgar_server()
    server.submissions = copy.deepcopy(server.submissions)  # the module's pages stay intact
    recent = server.submissions[SUBMISSIONS]["filings"]["recent"]
    recent[field][recent["accessionNumber"].index("0000320193-24-000050")] = value
    with serve(server.route) as stub:
        run = fetch_and_write(db, [CIK], MAR5, datetime(2024, 3, 7, tzinfo=UTC),
                              edgar=client(stub), alphavantage=None, now=MAR6)
    assert run.filings == 1 and run.result.written == 3
    [(table, reason, payload)] = dead_letters(db)
    assert table == "insider_transactions" and repr(value) in reason
    assert payload["accession"] == "0000320193-24-000050"
    assert payload["url"] == f"{stub.base_url}{SUBMISSIONS}"


def test_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from underdog.config import load_settings

    monkeypatch.setenv("UNDERDOG_EDGAR_CIKS", "320193, jpm")
    monkeypatch.setenv("UNDERDOG_SEC_USER_AGENT", " ")
    edgar = load_settings().insider.edgar
    assert edgar.ciks == ["320193", "JPM"] and edgar.user_agent is None
    assert edgar.base_url == "https://data.sec.gov"
    assert edgar.archives_url == "https://www.sec.gov"

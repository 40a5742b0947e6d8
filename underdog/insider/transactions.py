"""Insider transactions: Form 4 XML -> rows; EDGAR and Alpha Vantage -> `insider_transactions`.

A Form 4 row is one transaction of the filing: its non-derivative transactions first, then
its derivative ones, numbered from 1 in that order (`line`); holdings without a transaction
are not rows. Key (accession, line). `filed_at` = `available_at` = the filing's acceptance
time, read conservatively (`underdog.sources.edgar.accepted_at`). Amendments (4/A) are their
own filings with their own accession.

Alpha Vantage rows have no accession, filing time or transaction code. Their accession is
`AV:<ticker>:<hash of the row>` (line = which copy of an identical row), `code` is NULL,
`derivative` false (not reported), `issuer_cik` the ticker's CIK where EDGAR resolved it,
else the ticker. They are known when first seen: `filed_at` = `available_at` = the first
run that saw them (kept on reruns), so only the run of the latest partition asks Alpha
Vantage; a backfill of older days would stamp old trades with today anyway.

Windows: a run for [start, end) writes the Form 4s accepted in it, by upsert on the key, so
reruns and overlapping windows rewrite the same rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd

from underdog.sources.alphavantage_insider import (
    AlphaVantageError,
    AlphaVantageInsider,
    AlphaVantageRateLimited,
    AlphaVantageUnavailable,
)
from underdog.sources.edgar import EdgarClient, EdgarError, Filing, pad_cik
from underdog.store.db import Database
from underdog.store.offline import dead_letters
from underdog.store.offline.insider import first_seen
from underdog.store.offline.writers import WriteResult, upsert
from underdog.store.tables import INSIDER_TRANSACTIONS

log = logging.getLogger(__name__)


CSV_COLUMNS = ("security", "date", "code", "shares", "price", "acquired_disposed",
               "owned_after", "owner", "issuer", "derivative")
# Only a window ending after now - 1 day asks Alpha Vantage: the latest complete UTC day.
ALPHAVANTAGE_RECENT = timedelta(days=1)


class Form4Error(ValueError):
    """Not a Form 4 ownership document, or one with a value that cannot be stored."""


@dataclass(frozen=True)
class Form4Transaction:
    line: int
    derivative: bool
    security: str | None
    transaction_date: date | None
    code: str | None
    shares: float | None
    price: float | None
    acquired_disposed: str | None
    owned_after: float | None
    owner: str | None
    issuer: str | None
    issuer_cik: str | None


# ---------------------------------------------------------------- Form 4 parsing


def parse_form4(document: bytes) -> list[Form4Transaction]:
    """The transactions of a Form 4 (or 4/A) XML ownership document, in `line` order."""
    try:
        root = ET.fromstring(document)  # noqa: S314 (no external entities; expat bounds expansion)
    except ET.ParseError as exc:
        raise Form4Error(f"not XML: {exc}") from None
    if root.tag != "ownershipDocument":
        raise Form4Error(f"not a Form 4 ownership document (root <{root.tag}>)")
    owners = [_text(o, "reportingOwnerId/rptOwnerName") for o in root.iter("reportingOwner")]
    who = {"owner": "; ".join(o for o in owners if o) or None,
           "issuer": _text(root, "issuer/issuerName"),
           "issuer_cik": _cik(_text(root, "issuer/issuerCik"))}
    nodes = [(False, n) for n in root.iterfind("nonDerivativeTable/nonDerivativeTransaction")]
    nodes += [(True, n) for n in root.iterfind("derivativeTable/derivativeTransaction")]
    return [_transaction(i, derivative, node, who)
            for i, (derivative, node) in enumerate(nodes, start=1)]


def _transaction(line: int, derivative: bool, node: ET.Element,
                 who: dict[str, str | None]) -> Form4Transaction:
    try:
        return _read_transaction(line, derivative, node, who)
    except Form4Error as exc:  # which transaction, for the dead letter
        kind = "derivative" if derivative else "non-derivative"
        raise Form4Error(f"transaction {line} ({kind}): {exc}") from None


def _read_transaction(line: int, derivative: bool, node: ET.Element,
                      who: dict[str, str | None]) -> Form4Transaction:
    amounts = "transactionAmounts/"
    owned = (_value(node, "postTransactionAmounts/sharesOwnedFollowingTransaction")
             or _value(node, "postTransactionAmounts/valueOwnedFollowingTransaction"))
    return Form4Transaction(
        line=line, derivative=derivative,
        security=_value(node, "securityTitle"),
        transaction_date=_date(_value(node, "transactionDate"), "transactionDate"),
        code=_text(node, "transactionCoding/transactionCode"),
        shares=_number(_value(node, amounts + "transactionShares"), "transactionShares"),
        price=_number(_value(node, amounts + "transactionPricePerShare"),
                      "transactionPricePerShare"),
        acquired_disposed=_value(node, amounts + "transactionAcquiredDisposedCode"),
        owned_after=_number(owned, "ownedFollowingTransaction"), **who,
    )


def _text(node: ET.Element, path: str) -> str | None:
    found = node.find(path)
    text = found.text.strip() if found is not None and found.text else ""
    return text or None


def _value(node: ET.Element, path: str) -> str | None:
    """A Form 4 field's `<value>`: absent when only a footnote stands in for it."""
    return _text(node, f"{path}/value")


def _number(text: str | None, field: str) -> float | None:
    """A finite number ("1,500" included); NaN or infinity is no share count."""
    if not text:
        return None
    try:
        number = float(text.replace(",", ""))
    except ValueError:
        raise Form4Error(f"{field} {text!r} is not a number") from None
    if not math.isfinite(number):
        raise Form4Error(f"{field} {text!r} is not a finite number")
    return number


def _date(text: str | None, field: str) -> date | None:
    # Some carry an offset: 2024-03-01-05:00.
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        raise Form4Error(f"{field} {text!r} is not a date") from None


def _cik(text: str | None) -> str | None:
    return pad_cik(text) if text and text.strip().isdigit() else text


def transactions_csv(transactions: Sequence[Form4Transaction]) -> str:
    """CSV, one row per transaction (CSV_COLUMNS); numbers as written, without trailing .0."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for t in transactions:
        writer.writerow([t.security, t.transaction_date, t.code, _plain(t.shares),
                         _plain(t.price), t.acquired_disposed, _plain(t.owned_after), t.owner,
                         t.issuer, str(t.derivative).lower()])
    return out.getvalue()


def _plain(number: float | None) -> str:
    if number is None:
        return ""
    return str(int(number)) if number.is_integer() else repr(number)


def form4_rows(transactions: Sequence[Form4Transaction], filing: Filing) -> pd.DataFrame:
    """`insider_transactions` rows of one filing."""
    rows = [{**asdict(t), "accession": filing.accession, "issuer_cik": t.issuer_cik or filing.cik,
             "filed_at": filing.accepted_at, "available_at": filing.accepted_at}
            for t in transactions]
    return _frame(rows)


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=INSIDER_TRANSACTIONS.column_names)
    for column in ("filed_at", "available_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


# ---------------------------------------------------------------- Alpha Vantage rows


def alphavantage_rows(records: Sequence[dict[str, str | None]], *, ticker: str,
                      issuer_cik: str | None, seen_at: datetime) -> pd.DataFrame:
    """`insider_transactions` rows of Alpha Vantage records (module docstring)."""
    copies: dict[str, int] = {}
    rows = []
    for record in records:
        digest = hashlib.sha256("|".join(str(record.get(k)) for k in sorted(record))
                                .encode()).hexdigest()[:20]
        copies[digest] = copies.get(digest, 0) + 1
        rows.append({
            "accession": f"AV:{ticker}:{digest}", "line": copies[digest],
            "issuer_cik": issuer_cik or ticker, "issuer": record.get("ticker") or ticker,
            "owner": record.get("executive"), "security": record.get("security_type"),
            "derivative": False,
            "transaction_date": _date(record.get("transaction_date"), "transaction_date"),
            "code": None, "shares": _av_number(record.get("shares")),
            "price": _av_number(record.get("share_price")),
            "acquired_disposed": record.get("acquisition_or_disposal"), "owned_after": None,
            "filed_at": seen_at, "available_at": seen_at,
        })
    return _frame(rows)


def _av_number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "", "None") else None
    except ValueError:
        return None


# ---------------------------------------------------------------- fetch -> write


@dataclass
class InsiderRun:
    edgar: str  # what EDGAR gave, or "skipped: <why>"
    alphavantage: str
    filings: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)  # filings that could not be read
    unknown: list[str] = field(default_factory=list)  # tickers SEC does not list
    result: WriteResult | None = None
    rows: pd.DataFrame = field(default_factory=lambda: _frame([]))


def fetch_and_write(db: Database, issuers: Sequence[str], start: datetime, end: datetime, *,
                    edgar: EdgarClient | None, alphavantage: AlphaVantageInsider | None,
                    now: datetime, edgar_note: str = "", alphavantage_note: str = "",
                    ) -> InsiderRun:
    """Form 4s of `issuers` (CIKs or tickers) accepted in [start, end), and, for the latest
    window, Alpha Vantage's trades of the tickers; one upsert. A `None` client is skipped
    with its note."""
    run = InsiderRun(edgar=edgar_note or "skipped", alphavantage=alphavantage_note or "skipped")
    frames: list[pd.DataFrame] = []
    ciks: dict[str, str] = {}
    if edgar is not None:
        ciks = _resolve(edgar, issuers, run)
        frames += _edgar_frames(edgar, ciks, start, end, run)
        run.edgar = f"{run.filings} filings from {len(ciks)} issuers"
    if alphavantage is not None:
        frames += _alphavantage_frames(db, alphavantage, issuers, ciks, end, now, run)
    run.rows = pd.concat(frames, ignore_index=True) if frames else _frame([])
    run.result = upsert(db, INSIDER_TRANSACTIONS, run.rows, source="insider")
    _dead_letter_filings(db, run.failed)
    return run


def _resolve(edgar: EdgarClient, issuers: Sequence[str], run: InsiderRun) -> dict[str, str]:
    """10-digit CIK -> the configured name (CIK or ticker); unknown tickers recorded."""
    tickers = [i for i in issuers if not i.isdigit()]
    known = edgar.ticker_ciks() if tickers else {}
    run.unknown = [t for t in tickers if t not in known]
    resolved = {pad_cik(i): i for i in issuers if i.isdigit()}
    resolved.update({known[t]: t for t in tickers if t in known})
    return resolved


def _edgar_frames(edgar: EdgarClient, ciks: dict[str, str], start: datetime, end: datetime,
                  run: InsiderRun) -> list[pd.DataFrame]:
    frames = []
    for cik in ciks:
        filings, unreadable = edgar.filings_and_unreadable(cik, start, end)
        run.failed += [{"accession": e.accession, "cik": cik, "url": edgar.submissions_url(cik),
                        "error": e.error} for e in unreadable]
        for filing in filings:
            try:
                transactions = parse_form4(edgar.document(filing))
            except (EdgarError, Form4Error) as exc:
                run.failed.append({"accession": filing.accession, "cik": cik,
                                   "url": edgar.document_url(filing), "error": str(exc)})
                continue
            run.filings += 1
            frames.append(form4_rows(transactions, filing))
    return frames


def _alphavantage_frames(db: Database, client: AlphaVantageInsider, issuers: Sequence[str],
                         ciks: dict[str, str], end: datetime, now: datetime,
                         run: InsiderRun) -> list[pd.DataFrame]:
    if end <= now - ALPHAVANTAGE_RECENT:
        run.alphavantage = "skipped: Alpha Vantage has no filing times; only the latest " \
                           "partition asks it"
        return []
    cik_of = {name: cik for cik, name in ciks.items()}
    frames, notes = [], []
    for ticker in (i for i in issuers if not i.isdigit()):
        try:
            records = client.transactions(ticker)
        except AlphaVantageRateLimited as exc:
            notes.append(f"rate limited: {exc}")
            break  # the next calls would be refused as well
        except (AlphaVantageError, AlphaVantageUnavailable) as exc:
            # A second source: its trades come back in full on the next day's run.
            log.warning("alphavantage: %s", exc)
            notes.append(str(exc))
            continue
        frames.append(alphavantage_rows(records, ticker=ticker, issuer_cik=cik_of.get(ticker),
                                        seen_at=now))
    frame = _keep_first_seen(db, pd.concat(frames, ignore_index=True)) if frames else None
    run.alphavantage = "; ".join([f"{0 if frame is None else len(frame)} rows", *notes])
    return [frame] if frame is not None else []


def _keep_first_seen(db: Database, rows: pd.DataFrame) -> pd.DataFrame:
    """Rows already stored keep the time they were first seen (their available_at)."""
    seen = first_seen(db, list(rows["accession"].unique()))
    first = [seen.get((a, line)) for a, line in zip(rows["accession"], rows["line"],
                                                    strict=True)]
    stamp = pd.Series([f if f is not None else t for f, t in zip(first, rows["filed_at"],
                                                                 strict=True)])
    rows = rows.copy()
    rows["filed_at"] = rows["available_at"] = pd.to_datetime(stamp, utc=True)
    return rows


def _dead_letter_filings(db: Database, failed: list[dict[str, str]]) -> None:
    if not failed:
        return
    dead_letters.write(db, [("edgar", INSIDER_TRANSACTIONS.name,
                             f"unreadable Form 4: {f['error']}", f) for f in failed])

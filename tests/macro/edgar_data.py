"""An EDGAR stand-in's content: Apple-shaped submissions, Form 4 documents, tickers."""

from __future__ import annotations

from pathlib import Path

from tests.macro.servers import EdgarServer, filings_page

FORM4 = (Path(__file__).parent / "form4_sample.xml").read_bytes()
CIK = "0000320193"
FOLDER = "/Archives/edgar/data/320193"

# A 4/A with two reporting owners and only a derivative transaction (price absent).
FORM4A = b"""<?xml version="1.0"?>
<ownershipDocument>
  <schemaVersion>X0508</schemaVersion>
  <documentType>4/A</documentType>
  <periodOfReport>2024-03-04</periodOfReport>
  <dateOfOriginalSubmission>2024-03-05</dateOfOriginalSubmission>
  <issuer><issuerCik>320193</issuerCik><issuerName>Apple Inc.</issuerName>
    <issuerTradingSymbol>AAPL</issuerTradingSymbol></issuer>
  <reportingOwner><reportingOwnerId><rptOwnerCik>0001000001</rptOwnerCik>
    <rptOwnerName>Roe Richard</rptOwnerName></reportingOwnerId></reportingOwner>
  <reportingOwner><reportingOwnerId><rptOwnerCik>0001000002</rptOwnerCik>
    <rptOwnerName>Roe Family Trust</rptOwnerName></reportingOwnerId></reportingOwner>
  <derivativeTable>
    <derivativeTransaction>
      <securityTitle><value>Employee Stock Option (right to buy)</value></securityTitle>
      <conversionOrExercisePrice><value>120.5</value></conversionOrExercisePrice>
      <transactionDate><value>2024-03-04</value></transactionDate>
      <transactionCoding><transactionFormType>4</transactionFormType>
        <transactionCode>A</transactionCode><equitySwapInvolved>0</equitySwapInvolved>
      </transactionCoding>
      <transactionAmounts>
        <transactionShares><value>1,500</value></transactionShares>
        <transactionPricePerShare><footnoteId id="F1"/></transactionPricePerShare>
        <transactionAcquiredDisposedCode><value>A</value></transactionAcquiredDisposedCode>
      </transactionAmounts>
      <postTransactionAmounts>
        <valueOwnedFollowingTransaction><value>1500</value></valueOwnedFollowingTransaction>
      </postTransactionAmounts>
    </derivativeTransaction>
  </derivativeTable>
</ownershipDocument>
"""

RECENT = filings_page(
    {"accessionNumber": "0000320193-24-000050", "filingDate": "2024-03-06",
     "acceptanceDateTime": "2024-03-05T21:40:00.000Z", "form": "4/A",
     "primaryDocument": "xslF345X05/wk-form4a_1709700000.xml"},
    {"accessionNumber": "0000320193-24-000042", "filingDate": "2024-03-05",
     "acceptanceDateTime": "2024-03-05T18:30:12.000Z", "form": "4",
     "primaryDocument": "xslF345X05/wk-form4_1709681412.xml"},
    {"accessionNumber": "0000320193-24-000041", "filingDate": "2024-03-05",
     "acceptanceDateTime": "2024-03-05T16:05:00.000Z", "form": "8-K",
     "primaryDocument": "aapl-20240305.htm"},
    {"accessionNumber": "0000320193-24-000040", "filingDate": "2024-03-04",
     "acceptanceDateTime": "2024-03-04T17:00:00.000Z", "form": "4",
     "primaryDocument": "xslF345X05/wk-form4_1709590000.xml"},
    {"accessionNumber": "0000320193-24-000001", "filingDate": "2024-02-01",
     "acceptanceDateTime": "2024-02-01T16:30:00.000Z", "form": "10-Q",
     "primaryDocument": "aapl-20231230.htm"},
)
OLDER = filings_page(
    {"accessionNumber": "0000320193-23-000077", "filingDate": "2023-06-01",
     "acceptanceDateTime": "2023-06-01T18:00:00.000Z", "form": "4",
     "primaryDocument": "xslF345X04/wf-form4_1685656800.xml"},
)
SUBMISSIONS = {
    "cik": "320193", "entityType": "operating", "sic": "3571", "name": "Apple Inc.",
    "tickers": ["AAPL"], "exchanges": ["Nasdaq"],
    "filings": {"recent": RECENT, "files": [
        {"name": "CIK0000320193-submissions-001.json", "filingCount": 1,
         "filingFrom": "2020-01-02", "filingTo": "2024-01-31"}]},
}


def edgar_server(**overrides: object) -> EdgarServer:
    documents = {
        f"{FOLDER}/000032019324000042/wk-form4_1709681412.xml": FORM4,
        f"{FOLDER}/000032019324000050/wk-form4a_1709700000.xml": FORM4A,
        f"{FOLDER}/000032019324000040/wk-form4_1709590000.xml": FORM4,
        f"{FOLDER}/000032019323000077/wf-form4_1685656800.xml": FORM4,
    }
    return EdgarServer(
        submissions={f"/submissions/CIK{CIK}.json": SUBMISSIONS,
                     "/submissions/CIK0000320193-submissions-001.json": OLDER},
        documents=documents,
        tickers={"0": {"cik_str": 320193, "ticker": "AAPL", "title": "Apple Inc."},
                 "1": {"cik_str": 19617, "ticker": "JPM", "title": "JPMorgan Chase & Co."}},
        **overrides,
    )

"""`underdog macro fetch` and `underdog macro asof` on the test database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from tests.conftest import REDIS_URL
from tests.helpers import cli_settings
from underdog.store.db import Database
from underdog_cli.app import app


@pytest.fixture
def cli_env(dsn: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("UNDERDOG_FRED_API_KEY", raising=False)
    monkeypatch.delenv("UNDERDOG_MACRO_SOURCE", raising=False)
    with cli_settings(monkeypatch, dsn=dsn, redis_url=REDIS_URL, prefix=f"{redis_prefix}_cli"):
        yield


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_fetch_then_asof_across_a_revision(cli_env: None, db: Database) -> None:
    fetched = invoke("macro", "fetch", "--series", "vixcls", "--series", "DFF", "--end",
                     "2024-03-12")
    assert fetched.exit_code == 0, fetched.output
    assert "VIXCLS" in fetched.output and "fixture" in fetched.output
    first = invoke("macro", "asof", "VIXCLS", "2024-03-12T12:00")
    assert first.exit_code == 0, first.output
    assert first.stdout == (
        "series       VIXCLS (CBOE Volatility Index: VIX, Index)\n"
        "known at     2024-03-12T12:00:00+00:00\n"
        "value        13.86\n"
        "observation  2024-03-08\n"
        "vintage      2024-03-11 .. 2024-03-11\n"
        "available_at 2024-03-12T04:00:00+00:00\n")
    # The revision of Mar 8 came out Mar 12 with Mar 11's value: both known from Mar 13 04:00.
    assert "value        13.86" in invoke("macro", "asof", "VIXCLS", "2024-03-12T23:59:59-04:00"
                                          ).stdout
    assert "value        13.86" in invoke("macro", "asof", "VIXCLS", "2024-03-13").stdout
    assert "value        14.06" in invoke("macro", "asof", "vixcls", "2024-03-13T04:00").stdout


def test_asof_of_a_holiday_skips_the_missing_value_unless_asked(cli_env: None,
                                                               db: Database) -> None:
    assert invoke("macro", "fetch", "--series", "T10Y2Y").exit_code == 0
    at = "2024-01-17T05:00"  # Jan 15 (a holiday, ".") published Jan 16, known now
    assert "observation  2024-01-12" in invoke("macro", "asof", "T10Y2Y", at).stdout
    missing = invoke("macro", "asof", "T10Y2Y", at, "--include-missing").stdout
    assert "value        .\n" in missing and "observation  2024-01-15" in missing


@pytest.mark.parametrize(("args", "message"), [
    (("macro", "asof", "VIXCLS", "2020-01-01"), "nothing of VIXCLS was known"),
    (("macro", "asof", "VIXCLS", "yesterday"), "Invalid value for 'TIME'"),
    (("macro", "fetch", "--source", "fred"), "UNDERDOG_FRED_API_KEY is not set"),
    (("macro", "fetch", "--source", "alfred"), "auto, fixture, fred"),
])
def test_clear_failures(cli_env: None, db: Database, args: tuple[str, ...],
                        message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2 and message in " ".join(result.output.split())

"""Every command, every class of bad argument: exit 2, one line on stderr naming the argument,
nothing on stdout (a redirected CSV stays clean), no traceback, no work done."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.cli.commands import DATABASE_COMMANDS
from tests.conftest import REDIS_URL
from tests.helpers import cli_settings
from underdog.config import get_settings
from underdog.redaction import forget_secrets
from underdog_cli.app import app

BAD_DAYS = ("2024-13-01", "2024-02-30")
BI5 = "placeholder.bi5"  # decode-bi5 checks its file exists before the other arguments


def _bad_days() -> list[tuple[list[str], str]]:
    cases = []
    for bad in BAD_DAYS:
        cases += [
            (["market", "backfill", "--start", bad, "--end", "2024-03-05"], "'--start'"),
            (["market", "backfill", "--start", "2024-03-05", "--end", bad], "'--end'"),
            (["market", "bars", "EURUSD", bad, "2024-03-06"], "'start'"),
            (["market", "bars", "EURUSD", "2024-03-05", bad], "'end'"),
            (["features", "build", "--symbol", "EURUSD", "--start", bad, "--end", "2024-03-06"],
             "'--start'"),
            (["features", "build", "--symbol", "EURUSD", "--start", "2024-03-05", "--end", bad],
             "'--end'"),
            (["agent", "train", "--symbol", "EURUSD", "--start", bad], "'--start'"),
            (["agent", "train", "--symbol", "EURUSD", "--end", bad], "'--end'"),
            (["macro", "fetch", "--start", bad], "'--start'"),
            (["macro", "fetch", "--end", bad], "'--end'"),
            (["macro", "asof", "VIXCLS", bad], "'TIME'"),
            (["sentiment", "fetch", "--source", "fixture", "--since", bad], "'--since'"),
            (["sentiment", "fetch", "--source", "fixture", "--until", bad], "'--until'"),
            (["market", "decode-bi5", BI5, "--symbol", "EURUSD", "--hour", f"{bad}T14"],
             "'--hour'"),
        ]
    return cases


UNKNOWN_SYMBOL = [
    (["market", "backfill", "--start", "2024-03-05", "--end", "2024-03-05", "--symbol",
      "EURUSD", "--symbol", "EURUSX"], "'--symbol'"),
    (["market", "bars", "EURUSX", "2024-03-05", "2024-03-06"], "'symbol'"),
    (["market", "decode-bi5", BI5, "--symbol", "EURUSX", "--hour", "2024-03-05T14"],
     "'--symbol'"),
    (["features", "build", "--symbol", "EURUSX", "--start", "2024-03-05", "--end",
      "2024-03-06"], "'--symbol'"),
    (["features", "latest", "EURUSX"], "'symbol'"),
    (["agent", "train", "--symbol", "EURUSX"], "'--symbol'"),
    (["agent", "evaluate", "--symbol", "EURUSX"], "'--symbol'"),
    (["agent", "act", "EURUSX"], "'symbol'"),
]

END_BEFORE_START = [
    (["market", "backfill", "--start", "2024-03-05", "--end", "2024-03-04"], "'--end'"),
    (["market", "bars", "EURUSD", "2024-03-06", "2024-03-05"], "'end'"),
    (["market", "bars", "EURUSD", "2024-03-05", "2024-03-05"], "'end'"),  # [d, d): nothing
    (["features", "build", "--symbol", "EURUSD", "--start", "2024-03-06", "--end",
      "2024-03-05"], "'--end'"),
    (["agent", "train", "--symbol", "EURUSD", "--start", "2024-03-06", "--end", "2024-03-01"],
     "'--end'"),
    (["macro", "fetch", "--start", "2024-03-06", "--end", "2024-03-05"], "'--end'"),
    (["sentiment", "fetch", "--source", "fixture", "--since", "2024-03-09T12:00", "--until",
      "2024-03-09T11:00"], "'--until'"),
]

UNKNOWN_CHOICE = [
    (["market", "bars", "EURUSD", "2024-03-05", "2024-03-06", "--timeframe", "5m"],
     "'--timeframe'"),
    (["market", "backfill", "--start", "2024-03-05", "--end", "2024-03-05", "--source",
      "bloomberg"], "'--source'"),
    (["sentiment", "fetch", "--source", "twitter"], "'--source'"),
    (["macro", "fetch", "--source", "alfred"], "'--source'"),
    (["macro", "fetch", "--series", "VIXCLS&file_type=json"], "'--series'"),
    (["macro", "asof", "VIX CLS", "2024-03-05"], "'ID'"),
    (["agent", "train", "--symbol", "EURUSD", "--timesteps", "many"], "'--timesteps'"),
    (["insider", "parse-form4", "absent.xml"], "'file'"),
    (["metrics", "serve", "--port", "many"], "'--port'"),
    (["sentiment", "score"], "'texts'"),
    (["health", "--keys=3"], "'--keys'"),
]


@pytest.fixture
def cli_env(dsn: str, redis_prefix: str, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / BI5).write_bytes(b"")
    with cli_settings(monkeypatch, dsn=dsn, redis_url=REDIS_URL,
                      prefix=f"{redis_prefix}_badargs"):
        yield
    forget_secrets()


def assert_refused(args: list[str], named: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (args, result.stdout, result.stderr)
    assert result.stdout == "", args  # errors never go to stdout
    [line] = result.stderr.splitlines()  # one line, no traceback
    assert line.startswith("error: ") and named in line, (args, line)


@pytest.mark.parametrize(("args", "named"), _bad_days() + UNKNOWN_SYMBOL + END_BEFORE_START
                         + UNKNOWN_CHOICE)
def test_a_bad_argument_is_one_line_on_stderr_naming_it(cli_env: None, args: list[str],
                                                        named: str) -> None:
    assert_refused(args, named)


@pytest.mark.parametrize("role", ["no_such_reader_role_x", "bad role; drop", ""])
@pytest.mark.parametrize("args", DATABASE_COMMANDS, ids=" ".join)
def test_a_bad_reader_role_is_named(cli_env: None, monkeypatch: pytest.MonkeyPatch,
                                    args: list[str], role: str) -> None:
    monkeypatch.setenv("UNDERDOG_READER_ROLE", role)
    get_settings.cache_clear()
    assert_refused(args, "UNDERDOG_READER_ROLE")

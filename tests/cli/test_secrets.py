"""No command prints a DSN's password, whatever the DSN's form, wherever it fails.

Each form (URL, `?password=` query parameter, keyword/value, non-numeric port) goes through
every command that opens the database (in process: stdout, stderr and the log records), and
through the installed `underdog` entry point (a subprocess: its real stdout and stderr).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.cli.commands import DATABASE_COMMANDS
from tests.conftest import REDIS_URL
from tests.helpers import free_port
from underdog.config import get_settings
from underdog.redaction import dsn_passwords, forget_secrets, redact
from underdog_cli.app import app

SECRET = "Pa55-w0rd-sekrit"
QUOTED = "Pa55 w0rd'sekrit"  # a keyword DSN's quoted value: a space and an escaped quote


def forms(port: int) -> dict[str, tuple[str, str]]:
    """name -> (DSN, its password as libpq reads it)."""
    return {
        "url": (f"postgresql://bob:{SECRET}@127.0.0.1:{port}/x", SECRET),
        "query": (f"postgresql://bob@127.0.0.1:{port}/x?password={SECRET}&sslmode=disable",
                  SECRET),
        "keyword": (f"host=127.0.0.1 port={port} user=bob password={SECRET} dbname=x", SECRET),
        "keyword-quoted": (f"host=127.0.0.1 port={port} user=bob "
                           f"password='Pa55 w0rd\\'sekrit' dbname=x", QUOTED),
        "port-not-a-number": (f"postgresql://bob:{SECRET}@127.0.0.1:5x4/x", SECRET),
    }


FORMS = list(forms(1))
COMMANDS = [["db", "create"], ["db", "upgrade"], *DATABASE_COMMANDS,
            ["health", "--no-dagster"], ["metrics", "show", "--no-dagster"]]


def test_every_form_is_masked_by_the_one_redaction() -> None:
    for dsn, password in forms(5432).values():
        shown = redact(dsn, secrets=())  # by pattern alone: no secret known
        assert SECRET not in shown and "Pa55" not in shown, shown
        assert password in dsn_passwords(dsn) or "5x4" in dsn
    assert redact("postgresql://bob:p@ss-w0rd@db:5432/x", ()) == "postgresql://bob:***@db:5432/x"
    assert redact("GET /v2/everything X-Api-Key: abcdef0123456789", ()) == (
        "GET /v2/everything X-Api-Key: ***")
    from underdog import config
    from underdog.ops import logs

    assert config.redact is logs.redact is redact  # one redaction


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_prefix: str) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # no dagster.yaml, no .env
    monkeypatch.setenv("UNDERDOG_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("UNDERDOG_REDIS_PREFIX", f"{redis_prefix}_secrets")
    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)
    yield
    get_settings.cache_clear()
    forget_secrets()


def invoke(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
           args: list[str], **variables: str) -> tuple[int, str]:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    forget_secrets()
    with caplog.at_level(logging.DEBUG):
        result = CliRunner().invoke(app, args)
    return result.exit_code, result.stdout + result.stderr + caplog.text


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_no_command_prints_the_database_password(env: None, monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture,
                                                 args: list[str], form: str) -> None:
    dsn, password = forms(free_port())[form]
    code, seen = invoke(monkeypatch, caplog, args, UNDERDOG_DATABASE_URL=dsn)
    assert password not in seen and "sekrit" not in seen, seen
    if args[0] != "metrics":  # the exporter reports the database down and keeps serving
        assert code == 2 and "UNDERDOG_DATABASE_URL" in seen, seen


@pytest.mark.parametrize("form", FORMS)
def test_db_create_never_prints_dagsters_password(env: None, dsn: str,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture,
                                                  form: str) -> None:
    dagster, password = forms(free_port())[form]
    code, seen = invoke(monkeypatch, caplog, ["db", "create"], UNDERDOG_DATABASE_URL=dsn,
                        DAGSTER_PG_URL=dagster.replace("postgresql://", "postgresql+psycopg2://"))
    assert code == 2 and "DAGSTER_PG_URL" in seen and "UNDERDOG_DATABASE_URL: exists" in seen
    assert password not in seen and "sekrit" not in seen, seen


@pytest.mark.parametrize("form", ["url", "query", "keyword-quoted"])
def test_the_entry_point_prints_no_password(tmp_path: Path, dsn: str, form: str) -> None:
    """The real process: `underdog db create`, then `underdog demo`, which starts with it."""
    dagster, password = forms(free_port())[form]
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("UNDERDOG_", "DAGSTER_"))}
    underdog = str(Path(sys.executable).with_name("underdog"))
    for args, variables in (
        (["db", "create"], {"UNDERDOG_DATABASE_URL": dsn, "DAGSTER_PG_URL": dagster}),
        (["db", "status"], {"UNDERDOG_DATABASE_URL": dagster}),
        (["demo"], {"UNDERDOG_DATABASE_URL": dagster, "DAGSTER_HOME": str(tmp_path)}),
    ):
        done = subprocess.run([underdog, *args], env={**base, **variables}, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, check=False)
        seen = done.stdout + done.stderr
        assert password not in seen and "sekrit" not in seen, seen
        assert done.returncode == 2, seen
        [line] = done.stderr.splitlines()
        assert line.startswith("error: ") and ("DAGSTER_PG_URL" in line
                                                or "UNDERDOG_DATABASE_URL" in line)

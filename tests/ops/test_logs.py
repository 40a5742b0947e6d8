"""Log lines are structured, carry the run and partition, and never contain a secret."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml
from pydantic import SecretStr

from tests.helpers import free_port
from underdog.ops.logs import (
    TextFormatter,
    configure_logging,
    forget_secrets,
    log_context,
    redact,
)

ROOT = Path(__file__).resolve().parents[2]
KEY = "fred-KEY-0123456789abcdef"


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("UNDERDOG_FRED_API_KEY", KEY)
    monkeypatch.setenv("UNDERDOG_REDDIT_CLIENT_SECRET", "reddit-s3cret-value")
    monkeypatch.setenv("DAGSTER_PG_URL", "postgresql+psycopg2://postgres:dagster-pw-9@db/dg")
    from underdog.config import get_settings

    get_settings.cache_clear()
    forget_secrets()
    yield
    get_settings.cache_clear()
    forget_secrets()


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_patterns_are_redacted_without_knowing_the_secret() -> None:
    text = ("connect postgresql://app:pa55word@db:5432/x, fetch "
            "https://api.example/v1?series=VIX&api_key=abc123XYZ&file_type=json, "
            "headers {'Authorization': 'Bearer eyJhbGciOi.xyz'} password=hunter2 token: tk_9")
    out = redact(text, secrets=())
    for secret in ("pa55word", "abc123XYZ", "eyJhbGciOi.xyz", "hunter2", "tk_9"):
        assert secret not in out
    assert "postgresql://app:***@db:5432/x" in out and "series=VIX&api_key=***&" in out


def test_json_lines_carry_context_and_redact_everything(secret_env: None) -> None:
    stream = io.StringIO()
    handler = configure_logging("json", "INFO", stream=stream)
    log = logging.getLogger("underdog.test")
    try:
        with log_context(run_id="run-1", partition="2024-03-05"):
            log.warning("FRED said no to key %s", KEY, extra={"asset": "macro_indicators",
                                                               "token": SecretStr("x")})
            try:
                dsn = os.environ["DAGSTER_PG_URL"]
                raise RuntimeError(f"reddit refused reddit-s3cret-value at {dsn}")
            except RuntimeError:
                log.exception("failed")
        log.info("outside")
    finally:
        logging.getLogger().removeHandler(handler)
    first, failed, outside = lines(stream)
    assert first["level"] == "warning" and first["logger"] == "underdog.test"
    assert first["run_id"] == "run-1" and first["partition"] == "2024-03-05"
    assert first["asset"] == "macro_indicators" and first["token"] == "***"
    assert first["message"] == "FRED said no to key ***"
    assert "RuntimeError: reddit refused *** at postgresql+psycopg2://postgres:***@db/dg" in \
        failed["exception"]
    assert "run_id" not in outside
    everything = stream.getvalue()
    for secret in (KEY, "reddit-s3cret-value", "dagster-pw-9"):
        assert secret not in everything


def test_text_lines_for_a_terminal(secret_env: None) -> None:
    record = logging.LogRecord("underdog.x", logging.WARNING, __file__, 1,
                               "key %s", (KEY,), None)
    with log_context(run_id="r2", partition="2024-03-06"):
        line = TextFormatter().format(record)
    assert line.endswith("WARNING underdog.x [run_id=r2 partition=2024-03-06]: key ***")


def _noisy_job():
    from underdog_assets.defs.ops.loggers import console

    partitions = dg.DailyPartitionsDefinition(start_date="2024-03-01")

    @dg.asset(partitions_def=partitions)
    def noisy(context):  # unannotated: this module has postponed annotations
        context.log.warning(f"the key is {KEY}")
        logging.getLogger("underdog.sources.fred").warning(
            "retrying https://api.stlouisfed.org/fred/series?api_key=%s", KEY)
        context.log.info("an info line")

    return dg.Definitions(assets=[noisy], loggers={"console": console}) \
        .resolve_implicit_global_asset_job_def()


def _run(run_config: dict | None, capfd) -> tuple[dg.ExecuteInProcessResult, str, list[str]]:
    settings = yaml.safe_load((ROOT / "dagster.yaml").read_text())["python_logs"]
    with dg.DagsterInstance.ephemeral(settings={"python_logs": settings}) as instance:
        result = _noisy_job().execute_in_process(partition_key="2024-03-05", instance=instance,
                                                 run_config=run_config)
        stored = [e.user_message for e in instance.all_logs(result.run_id)]
    assert result.success
    return result, capfd.readouterr().err, stored


MESSAGES = {"the key is ***", "an info line",
            "retrying https://api.stlouisfed.org/fred/series?api_key=***"}


def test_dagster_runs_log_json_with_run_and_partition(secret_env: None, capfd,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that names the location's console logger (as the demo's do)."""
    monkeypatch.setenv("UNDERDOG_LOG_FORMAT", "json")
    result, err, stored = _run({"loggers": {"console": {"config": {"log_level": "DEBUG"}}}},
                               capfd)
    records = [json.loads(line) for line in err.splitlines()]  # every line is JSON
    assert records and all(r["run_id"] == result.run_id for r in records)
    assert all(r["partition"] == "2024-03-05" for r in records)
    messages = {r["message"]: r for r in records}
    assert MESSAGES <= set(messages)
    assert messages["the key is ***"]["step"] == "noisy"
    assert any(r.get("event") == "STEP_SUCCESS" for r in records)  # Dagster's own events
    assert MESSAGES <= set(stored)  # the event log (the UI) has them redacted too
    assert KEY not in err + "".join(stored)


def test_dagster_default_console_logger_is_redacted_too(secret_env: None, capfd) -> None:
    """A run that names no logger: Dagster's own console logger, fed redacted records."""
    _, err, stored = _run(None, capfd)
    assert "the key is ***" in err and "api_key=***" in err
    assert MESSAGES <= set(stored)
    assert KEY not in err + "".join(stored)


def test_the_cli_never_prints_a_secret(dsn: str, tmp_path: Path) -> None:
    """A real process: Redis behind a password that fails, logs and report in JSON."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNDERDOG_")}
    env.update(UNDERDOG_DATABASE_URL=dsn, UNDERDOG_LOG_FORMAT="json",
               UNDERDOG_LOG_LEVEL="DEBUG", UNDERDOG_FRED_API_KEY=KEY,
               UNDERDOG_REDIS_URL=f"redis://:r3dis-Secret@127.0.0.1:{free_port()}/0")
    underdog = str(Path(sys.executable).with_name("underdog"))
    done = subprocess.run([underdog, "health", "--json", "--no-dagster"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert json.loads(done.stdout)["redis"]["up"] is False
    logged = [json.loads(line) for line in done.stderr.splitlines()]
    assert logged and all({"time", "level", "logger", "message"} <= set(r) for r in logged)
    for secret in ("r3dis-Secret", KEY):
        assert secret not in done.stdout + done.stderr

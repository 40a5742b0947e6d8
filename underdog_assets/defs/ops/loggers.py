"""Dagster's logs: no secret in any record, and a structured "console" logger.

Every process that loads this code location (webserver, daemon, run workers) redacts each log
record as it is made (`install_record_redaction`), so Dagster's default console logger and its
event log (the UI) cannot show a password or key either.

`console` is the location's console logger (Dagster's config: `log_level`, `name`), used by a
run whose config names it, e.g. `loggers: {console: {config: {log_level: INFO}}}` (as the
demo's runs do): one JSON object per line on stderr with the run id, job, step and partition
(UNDERDOG_LOG_FORMAT=json; text for a terminal). A run that names no logger gets Dagster's
default console logger (text, redacted). The core's own loggers reach both (dagster.yaml:
managed_python_loggers).
"""

import logging
import sys

import dagster as dg

from underdog.config import load_settings
from underdog.ops.logs import JsonFormatter, TextFormatter, install_record_redaction

install_record_redaction()


@dg.logger(
    config_schema={
        "log_level": dg.Field(str, is_required=False, default_value="INFO"),
        "name": dg.Field(str, is_required=False, default_value="dagster"),
    },
    description="Structured (JSON or text, UNDERDOG_LOG_FORMAT), redacted lines on stderr.",
)
def console(init_context: dg.InitLoggerContext) -> logging.Logger:
    config = init_context.logger_config
    out = logging.getLoggerClass()(config["name"], level=config["log_level"].upper())
    handler = logging.StreamHandler(sys.stderr)
    try:
        fmt = load_settings().log_format
    except Exception:  # noqa: BLE001 - a settings error is reported by the run itself
        fmt = "json"
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    out.addHandler(handler)
    return out


@dg.definitions
def ops_loggers() -> dg.Definitions:
    return dg.Definitions(loggers={"console": console})

"""Structured log lines (one JSON object each) that carry the run and partition, never a secret.

Every process of the project logs through `configure_logging` (the CLI, the streamer, the
exporter) or, inside Dagster runs, through the `JsonFormatter` that `dagster.yaml` installs on
the runs' handlers; there each record's Dagster metadata gives the run id, job, step and
partition. Elsewhere `log_context(run_id=..., partition=...)` sets them.

Redaction happens in the formatter, so it covers every message, argument, extra field and
traceback; in Dagster's processes `install_record_redaction` also scrubs each record as it is
made, for the sinks that are Dagster's (its default console logger, its event log). What is
masked: `underdog.redaction` (the one redaction, shared with every message and print).
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from pydantic import SecretStr

from underdog.redaction import MASK, forget_secrets, redact

CONTEXT: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "underdog_log_context", default=None)
# LogRecord attributes that are not extra fields.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_DAGSTER = "dagster_meta"


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add `fields` (run_id, partition, asset, ...) to every line logged inside the block."""
    token = CONTEXT.set({**(CONTEXT.get() or {}),
                         **{k: str(v) for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        CONTEXT.reset(token)


def _dagster_fields(record: logging.LogRecord) -> tuple[dict[str, str], str | None]:
    """Run, job, step and partition from a Dagster log record, and its own message."""
    meta = getattr(record, _DAGSTER, None)
    if not isinstance(meta, dict):
        return {}, None
    tags = meta.get("job_tags") or {}
    partition = tags.get("dagster/partition") or (
        f"{tags['dagster/asset_partition_range_start']}..."
        f"{tags['dagster/asset_partition_range_end']}"
        if "dagster/asset_partition_range_start" in tags else None)
    event = meta.get("dagster_event")
    fields = {"run_id": meta.get("run_id"), "job": meta.get("job_name"),
              "step": meta.get("step_key"), "partition": partition,
              "event": getattr(event, "event_type_value", None)}
    return {k: v for k, v in fields.items() if v}, meta.get("orig_message")


def record_fields(record: logging.LogRecord) -> dict[str, object]:
    """What one line says, before redaction: time, level, logger, message, context, extras."""
    dagster, original = _dagster_fields(record)
    message = original if original is not None else record.getMessage()
    fields: dict[str, object] = {
        "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname.lower(), "logger": record.name, "message": message,
        **(CONTEXT.get() or {}), **dagster,
    }
    for name, value in vars(record).items():
        if name not in _STANDARD and name != _DAGSTER and not name.startswith("_"):
            fields.setdefault(name, value)
    if record.exc_info:
        fields["exception"] = logging.Formatter().formatException(record.exc_info)
    return fields


def _scrub(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: _scrub(v) for k, v in record_fields(record).items()}
        return json.dumps(fields, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger [run=... partition=...]: message`, redacted (for a terminal)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record)
        context = " ".join(f"{k}={fields[k]}" for k in ("run_id", "partition", "asset", "step")
                           if k in fields)
        line = (f"{fields['time']} {record.levelname} {record.name}"
                f"{f' [{context}]' if context else ''}: {fields['message']}")
        if "exception" in fields:
            line += "\n" + str(fields["exception"])
        return redact(line)


def install_record_redaction() -> None:
    """Redact every log record of this process when it is made, before any handler sees it.

    For processes whose log sinks are not ours (Dagster's default console logger, its event
    log): the record's message is formatted, scrubbed and frozen (args emptied). Idempotent.
    """
    current = logging.getLogRecordFactory()
    if getattr(current, "underdog_redacts", False):
        return

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = current(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logging's to report
            return record
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return record

    factory.underdog_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_HANDLER_NAME = "underdog"


def configure_logging(fmt: str = "json", level: str | int = "INFO", *,
                      stream: object = None) -> logging.Handler:
    """Send every logger's records to stderr (or `stream`) as redacted lines of `fmt`.

    Replaces a handler this function installed before, so calling it twice is harmless.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setLevel(level.upper() if isinstance(level, str) else level)  # whatever the
    # loggers' own levels (Dagster sets its managed loggers' levels for the whole process)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    forget_secrets()
    return handler

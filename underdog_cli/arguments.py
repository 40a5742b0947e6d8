"""The command line's argument types: parsed before any work, so click names a bad one.

Each parser raises `typer.BadParameter` saying what it expects; click prefixes the argument
("Invalid value for '--start': ...") and the root command prints it as one line, exit 2.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import typer


def day(value: str) -> datetime:
    """A day, YYYY-MM-DD, as its 00:00 UTC."""
    try:
        return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a day like 2024-03-05 ({exc})") from None


def moment(value: str) -> datetime:
    """An ISO-8601 time (2024-03-12T15:00, 2024-03-12T15:00-05:00) or a day (its 00:00),
    UTC unless it carries an offset."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a time like 2024-03-12T15:00, "
                                 f"2024-03-12T15:00-05:00 or 2024-03-12") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def hour(value: str) -> datetime:
    """An hour like 2024-03-05T14, in UTC."""
    return moment(value).astimezone(UTC)


def symbol(value: str) -> str:
    """A known instrument's symbol, upper-cased."""
    from underdog.reference.instruments import get_instrument

    try:
        return get_instrument(value.strip().upper()).symbol
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def series_id(value: str) -> str:
    """A FRED series id (its alphabet: it goes into a request URL)."""
    from underdog.reference.fred_ids import series_id as checked

    try:
        return checked(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def timeframe(value: str) -> str:
    """A bar length the store keeps: 1m, 1h or 1d."""
    from underdog.store.offline.readers import TIMEFRAMES

    if value not in TIMEFRAMES:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(TIMEFRAMES)}")
    return value


def choice(value: str, allowed: tuple[str, ...] | list[str], name: str) -> str:
    """`value` if it is one of `allowed`, else a bad `name` (checked in the command: the
    choices are known only after a lazy import)."""
    if value not in allowed:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}",
                                 param_hint=f"'{name}'")
    return value


def ordered(start: datetime | None, end: datetime | None, names: tuple[str, str], *,
            end_inclusive: bool = False) -> None:
    """Refuse a window whose end is before its start (or equal to it, for an exclusive end):
    it would read or write nothing and exit 0."""
    if start is None or end is None:
        return
    if end < start or (end == start and not end_inclusive):
        word = "before" if end < start else "equal to"
        raise typer.BadParameter(f"{_shown(end)} is {word} {names[0]} {_shown(start)}",
                                 param_hint=f"'{names[1]}'")


def _shown(moment: datetime) -> str:
    """A day as the user wrote it (2024-03-05), a time in full."""
    midnight = moment.astimezone(UTC).time() == time()
    return moment.astimezone(UTC).date().isoformat() if midnight else moment.isoformat()

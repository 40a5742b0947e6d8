"""underdog insider: parse-form4."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from underdog_cli.errors import fail

app = typer.Typer(no_args_is_help=True, help="Insider filings: Form 4 documents.")


@app.command("parse-form4")
def insider_parse_form4(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="a Form 4 XML file"),  # noqa: B008
) -> None:
    """Print a Form 4's transactions as CSV: one row per non-derivative and derivative one."""
    from underdog.insider.transactions import Form4Error, parse_form4, transactions_csv

    try:
        transactions = parse_form4(file.read_bytes())
    except Form4Error as exc:
        fail(f"{file.name}: {exc}")
    sys.stdout.write(transactions_csv(transactions))



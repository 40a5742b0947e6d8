"""How the command line fails: one redacted line on stderr, exit 2; stdout keeps the data.

A bad argument (click's parsing, or a check in a command) is named by click ("Invalid value
for '--start': ..."); a bad setting by its variable (ConfigError); an unreachable service by
its variable too. A bug still shows its traceback, redacted, with exit 1.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any, NoReturn

import typer
from typer._click.exceptions import NoArgsIsHelpError  # typer vendors click (pinned 0.29)
from typer.core import TyperGroup

from underdog.config import ConfigError
from underdog.redaction import redact

USAGE = 2  # bad argument, bad setting, nothing to show: what `fail` has always returned


def one_line(message: str) -> str:
    """The message redacted, on one line (psycopg and pydantic messages span several)."""
    return " ".join(redact(message).split())


def report(message: str) -> None:
    typer.echo(f"error: {one_line(message)}", err=True)


def fail(message: str, code: int = USAGE) -> NoReturn:
    report(message)
    raise typer.Exit(code)


class OneLineErrors(TyperGroup):
    """The root command: every failure of every command ends here, as one line."""

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except NoArgsIsHelpError as exc:
            exc.show()  # the help text, as before
            code = exc.exit_code
        except typer.TyperException as exc:  # usage errors, BadParameter: name the argument
            report(exc.format_message())
            code = exc.exit_code
        except ConfigError as exc:  # a setting, or a service a setting points at
            report(str(exc))
            code = USAGE
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            code = 1
        except Exception:  # noqa: BLE001 - a bug: its traceback, without secrets
            sys.stderr.write(redact(traceback.format_exc()))
            code = 1
        sys.exit(code if isinstance(code, int) else 0)

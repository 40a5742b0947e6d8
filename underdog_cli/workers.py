"""underdog workers: Celery workers that run Dagster steps (UNDERDOG_EXECUTOR=celery).

A worker is `celery worker` on the app of underdog_assets/celery_worker.py, so it uses the
project's code and settings: the same broker, key prefix and acks-late policy as the runs
that send it steps. Start one per host (or several, each with its own --name).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from underdog.config import get_settings

app = typer.Typer(no_args_is_help=True, help="Celery workers for Dagster steps.")


def worker_argv(*, name: str, queues: list[str], concurrency: int,
                loglevel: str = "INFO") -> list[str]:
    """The `celery worker` command line of one worker."""
    return [sys.executable, "-m", "celery", "-A", "underdog_assets.celery_worker", "worker",
            "--hostname", name, "--queues", ",".join(queues), "--concurrency",
            str(concurrency), "--loglevel", loglevel, "--without-mingle", "--without-gossip"]


@app.command("start")
def start(
    name: Annotated[str, typer.Option(help="worker name, NAME@HOST (%h: this host's name)")]
    = "underdog@%h",
    queues: Annotated[str, typer.Option(help="comma list of queues: io (sources, SQL), cpu "
                                            "(features, scoring, training), dagster (untagged)")]
    = "io,cpu,dagster",
    concurrency: Annotated[int, typer.Option(help="processes; 0: UNDERDOG_CELERY_IO_CONCURRENCY "
                                                  "for --queues io, else the CPU concurrency")]
    = 0,
    loglevel: Annotated[str, typer.Option(help="Celery's log level")] = "INFO",
) -> None:
    """Run one Celery worker in the foreground (it replaces this process)."""
    from underdog_assets.defs.common.executors import QUEUES, cpu_concurrency

    chosen = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(chosen) - set(QUEUES))
    if unknown or not chosen:
        raise typer.BadParameter(f"queues must be among {', '.join(QUEUES)}, got {queues!r}")
    settings = get_settings()
    if not concurrency:
        concurrency = (settings.celery_io_concurrency if chosen == ["io"]
                       else cpu_concurrency(settings))
    argv = worker_argv(name=name, queues=chosen, concurrency=concurrency, loglevel=loglevel)
    os.execv(argv[0], argv)  # noqa: S606 - signals (SIGTERM: warm shutdown) go straight to Celery

"""underdog metrics: the Prometheus exporter (reads the stores and Dagster at scrape time)."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer

from underdog.config import get_settings

app = typer.Typer(no_args_is_help=True, help="The Prometheus exporter.")
log = logging.getLogger("underdog.metrics")

Dagster = Annotated[bool, typer.Option(
    help="also serve what Dagster runs did (from the instance's event log)")]


def registry(dagster: bool = True):
    """A registry with the store collector and, if reachable, the Dagster run collector."""
    from prometheus_client import CollectorRegistry

    from underdog.ops.metrics import StoreCollector
    from underdog_cli.common import dagster_instance

    out = CollectorRegistry()
    out.register(StoreCollector(get_settings()))
    if dagster:
        instance, why = dagster_instance()
        if instance is None:
            log.warning("Dagster metrics off: %s", why)
        else:
            from underdog_cli.run_metrics import RunMetricsCollector

            out.register(RunMetricsCollector(instance))
    return out


@app.command("serve")
def serve(
    port: Annotated[int, typer.Option(help="port of /metrics", envvar="UNDERDOG_METRICS_PORT")]
    = 9102,
    addr: Annotated[str, typer.Option(help="address to bind", envvar="UNDERDOG_METRICS_ADDR")]
    = "127.0.0.1",
    dagster: Dagster = True,
) -> None:
    """Serve /metrics until SIGTERM or SIGINT."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr, registry=registry(dagster))
    log.info("metrics on http://%s:%s/metrics", addr, server.server_port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@app.command("show")
def show(dagster: Dagster = True) -> None:
    """Print one scrape (the Prometheus text format) and exit."""
    from prometheus_client import generate_latest

    print(generate_latest(registry(dagster)).decode(), end="")

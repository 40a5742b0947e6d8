"""`underdog-streamer`: the MT5 tick streaming sidecar, and a fake bridge to feed it.

  underdog-streamer run --protocol mql5 --host H --symbols EURUSD,GBPUSD
  underdog-streamer fake-bridge --protocol mql5 --rate 1000

Side by side: streamers that shard the symbols (`--symbols`), or hot standbys on the same
feed, each need their own `--streamer-id` (it keys the spool directory, the heartbeat and
the dead letters) and their own `--metrics-port`.

Database and Redis come from the usual settings (UNDERDOG_DATABASE_URL, UNDERDOG_REDIS_URL,
UNDERDOG_REDIS_PREFIX, ...); every option below also reads the environment variable it names.
SIGTERM or SIGINT: stop receiving, flush what was received, exit 0.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from underdog.config import ConfigError, get_settings
from underdog.ops.logs import configure_logging
from underdog.reference.endpoints import (
    DWX_PUB_PORT,
    DWX_PUSH_PORT,
    MT5_DATA_PORT,
    MT5_HOST,
    MT5_LIVE_PORT,
    MT5_SYS_PORT,
)
from underdog_streaming.config import OFFSET_ENV, StreamConfig

if TYPE_CHECKING:
    from underdog_streaming.fake_bridge import BridgePorts

app = typer.Typer(no_args_is_help=True, help=__doc__, pretty_exceptions_enable=False)
log = logging.getLogger("underdog_streaming")

Protocol = Annotated[str, typer.Option(help="mql5 (MQL5-JSON-API) or dwx (DWX connector)",
                                       envvar="UNDERDOG_STREAM_PROTOCOL")]
Port = int


def _env(name: str) -> str:
    return f"UNDERDOG_STREAM_{name}"


def _signalled() -> threading.Event:
    """An event that SIGTERM or SIGINT sets."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


@app.command()
def run(
    protocol: Protocol = "mql5",
    host: Annotated[str, typer.Option(help="the bridge's host", envvar=_env("HOST"))]
    = MT5_HOST,
    symbols: Annotated[str | None, typer.Option(
        help="comma-separated (default: UNDERDOG_SYMBOLS)", envvar=_env("SYMBOLS"))] = None,
    sys_port: Annotated[Port, typer.Option(help="MQL5 system REQ/REP")] = MT5_SYS_PORT,
    data_port: Annotated[Port, typer.Option(help="MQL5 data PUSH/PULL")] = MT5_DATA_PORT,
    live_port: Annotated[Port, typer.Option(help="MQL5 live PUSH/PULL")] = MT5_LIVE_PORT,
    pub_port: Annotated[Port, typer.Option(help="DWX market data PUB/SUB")] = DWX_PUB_PORT,
    push_port: Annotated[Port, typer.Option(help="DWX commands (TRACK_PRICES)")] = DWX_PUSH_PORT,
    server_utc_offset_hours: Annotated[float, typer.Option(
        help="broker server clock minus UTC, hours (MQL5 times)", envvar=OFFSET_ENV)] = 0.0,
    metrics_port: Annotated[int | None, typer.Option(
        help="Prometheus /metrics port (off if unset)", envvar=_env("METRICS_PORT"))] = None,
    metrics_addr: Annotated[str, typer.Option(envvar=_env("METRICS_ADDR"))] = "127.0.0.1",
    spool_dir: Annotated[Path, typer.Option(
        help="where batches wait while PostgreSQL is down", envvar=_env("SPOOL_DIR"))]
    = Path("spool/stream"),
    quote_interval: Annotated[float, typer.Option(
        help="bid/ask polling period, 1-5 s", envvar=_env("QUOTE_INTERVAL_S"))] = 1.0,
    batch_ms: Annotated[float, typer.Option(help="micro-batch period")] = 25.0,
    batch_rows: Annotated[int, typer.Option(help="micro-batch size cap")] = 5000,
    depth: Annotated[bool, typer.Option(help="ask the bridge for book depth")] = True,
    bridge_bars: Annotated[bool, typer.Option(help="also take the bridge's M1 bars")] = False,
    max_frame_bytes: Annotated[int, typer.Option(
        help="largest live frame read (ZMQ_MAXMSGSIZE); a larger one drops the connection, "
             "which is re-made", envvar=_env("MAX_FRAME_BYTES"))] = 16_384,
    receive_hwm: Annotated[int, typer.Option(
        help="live frames queued at most (ZMQ_RCVHWM); past it TCP pushes back",
        envvar=_env("RECEIVE_HWM"))] = 10_000,
    streamer_id: Annotated[str, typer.Option(
        help="names this streamer beside others (shards, hot standbys): its spool is "
             "<spool-dir>/<id>, its heartbeat stream:heartbeat:<id>", envvar=_env("ID"))] = "",
    log_level: Annotated[str, typer.Option(envvar=_env("LOG_LEVEL"))] = "INFO",
    state_vectors: Annotated[bool, typer.Option(
        help="on each closed bar, publish the online state vector to Redis")] = True,
) -> None:
    """Stream ticks from an MT5 bridge into PostgreSQL (ticks, ohlcv, quotes) and Redis."""
    from underdog_streaming.streamer import Streamer

    configure_logging(get_settings().log_format, log_level)  # structured, redacted
    if protocol not in ("mql5", "dwx"):
        raise typer.BadParameter("--protocol must be mql5 or dwx")
    config = StreamConfig.from_settings(
        get_settings(), protocol=protocol, host=host,
        symbols=tuple(symbols.split(",")) if symbols else None, sys_port=sys_port,
        data_port=data_port, live_port=live_port, pub_port=pub_port, push_port=push_port,
        server_utc_offset_hours=server_utc_offset_hours, metrics_port=metrics_port,
        metrics_addr=metrics_addr, spool_dir=spool_dir, quote_interval_s=quote_interval,
        batch_ms=batch_ms, batch_rows=batch_rows, depth=depth, bridge_bars=bridge_bars,
        max_frame_bytes=max_frame_bytes, receive_hwm=receive_hwm, streamer_id=streamer_id,
    )
    stop = _signalled()
    with ExitStack() as resources:
        hook = _state_hook(resources, config.source) if state_vectors else None
        _serve(Streamer(config, on_bar_close=hook).start(), stop, metrics_addr)


def _state_hook(resources: ExitStack, source: str):
    """The on_bar_close hook that also publishes the online state vector. Its database opens
    on first use: the streamer starts (and spools) while PostgreSQL is down."""
    from underdog.store.db import Database
    from underdog.store.offline.readers import latest
    from underdog.store.online.cache import LatestCache
    from underdog_streaming.hooks import OpenOnUse, state_vector_hook

    settings = get_settings()
    db = OpenOnUse(lambda: Database.from_settings(settings).open())
    resources.callback(db.close)
    cache = LatestCache.from_url(settings.redis_url.get_secret_value(),
                                 prefix=settings.redis_prefix, ttl_s=settings.cache_ttl_s,
                                 loader=lambda k, s, src: latest(db, k, s, src))
    return state_vector_hook(db, cache, source)  # type: ignore[arg-type]


def _serve(streamer, stop: threading.Event, metrics_addr: str) -> None:
    if streamer.metrics_port is not None:
        log.info("metrics on http://%s:%s/metrics", metrics_addr, streamer.metrics_port)
    while not stop.wait(1.0):
        pass
    log.info("stopping: flushing what was received")
    summary = streamer.stop()
    log.info("stopped: %s", json.dumps(summary))


@app.command("fake-bridge")
def fake_bridge(
    protocol: Protocol = "mql5",
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    rate: Annotated[float, typer.Option(help="ticks per second, all symbols")] = 100.0,
    seconds: Annotated[float, typer.Option(help="stop sending after (0: never)")] = 0.0,
    symbols: Annotated[str, typer.Option(help="comma-separated")] = "EURUSD,GBPUSD",
    sys_port: Port = MT5_SYS_PORT,
    data_port: Port = MT5_DATA_PORT,
    live_port: Port = MT5_LIVE_PORT,
    pub_port: Port = DWX_PUB_PORT,
    push_port: Port = DWX_PUSH_PORT,
    server_utc_offset_hours: Annotated[float, typer.Option(envvar=OFFSET_ENV)] = 0.0,
    depth: Annotated[bool, typer.Option(help="answer DEPTH requests")] = True,
    hostile: Annotated[int, typer.Option(
        help="hostile frames spread among the ticks (needs --seconds)")] = 0,
    terminal: Annotated[list[str] | None, typer.Option(
        help="mql5: one more terminal on the same ticks, SYS,DATA,LIVE ports (repeatable): "
             "a hot standby streamer takes each")] = None,
    all_peers: Annotated[bool, typer.Option(
        help="send nothing until every terminal's live port has a consumer")] = False,
    seed: int = 7,
) -> None:
    """A fake MT5 bridge (either protocol) with simulated prices. Prints its counts on exit."""
    from underdog_streaming.fake_bridge import BridgePorts, FakeBridge

    bridge = FakeBridge(
        protocol=protocol, host=host, rate=rate, seconds=seconds,
        symbols=tuple(s.strip().upper() for s in symbols.split(",") if s.strip()),
        ports=BridgePorts(sys_port, data_port, live_port, pub_port, push_port), seed=seed,
        server_utc_offset_hours=server_utc_offset_hours, depth=depth, hostile=hostile,
        terminals=tuple(_terminal_ports(t) for t in terminal or ()), all_peers=all_peers,
    ).start()
    stop = _signalled()
    print(json.dumps({"listening": protocol, "host": host}), flush=True)
    reported = False
    while not stop.wait(0.1):
        if bridge.done.is_set() and not reported:  # the count is final: say it at once
            print(json.dumps({**bridge.stats(), "done": True}), flush=True)
            reported = True
    print(json.dumps(bridge.stop()), flush=True)


def _terminal_ports(text: str) -> BridgePorts:
    from underdog_streaming.fake_bridge import BridgePorts

    try:
        sys_port, data_port, live_port = (int(p) for p in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"--terminal takes SYS,DATA,LIVE ports, got {text!r}") from None
    return BridgePorts(sys_port, data_port, live_port)


def main() -> None:
    from underdog_streaming.claim import SpoolInUse
    from underdog_streaming.metrics import MetricsPortInUse

    try:
        app()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    except (SpoolInUse, MetricsPortInUse) as exc:  # a streamer beside it holds it
        print(f"cannot start: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

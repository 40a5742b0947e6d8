"""Streaming benchmark: fake MT5 bridge -> underdog-streamer -> PostgreSQL + Redis.

The bridge runs as its own process (`underdog-streamer fake-bridge`, MQL5-JSON-API by
default), sending `--rate` ticks a second for `--seconds` with the current time as tick time;
the streamer runs in this process exactly as `underdog-streamer run` does (same threads),
keeping every latency. Everything lands in a throwaway database `underdog_bench_stream_<pid>`
(created, migrated, dropped at the end) and under a Redis prefix of its own (deleted).

--hostile [N] has the bridge spread N (default 10,000) hostile frames among its ticks (huge
integers, NaN/inf, garbage, wrong types, frames up to the 16 KiB limit, deep nesting, bad
UTF-8: `underdog_streaming.hostile`); every one must be rejected and no valid tick lost.

--restart-db makes PostgreSQL unreachable for the streamer for 5 s mid-run, for real, without
touching the machine's shared server: the streamer reaches PostgreSQL through a TCP proxy (a
process of its own) that is closed (listener gone: connections refused; open connections
reset) and then reopened. Ticks received meanwhile go to the spool and are replayed; `lost`
is counted after the replay.

Reported (last line of stdout, one JSON object):
  rate, seconds, sent, stored, lost          lost = sent - rows in underdog.ticks (valid
                                             ticks: hostile frames are not in `sent`)
  hostile, rejected, malformed, feed_drops   hostile frames sent; frames turned away
  rss_start_mb, peak_rss_mb                  this process (the streamer) before the run, and
                                             its peak during it (VmHWM, reset at the start)
  redis_p50_ms, redis_p99_ms                 receipt -> Redis write of the quotes written
  db_p50_ms, db_p99_ms                       receipt -> commit (spooled ticks: their replay)
  bridge_db_p99_ms, bridge_lag_p99_ms        from the bridge's own tick time (ms resolution):
                                             to the commit, and to receipt (a backlog shows)
  naive_rate, naive_db_p99_ms, naive_lost    the baseline: one INSERT + commit per tick, one
                                             thread, same rate, own bridge, own table
plus spooled, replayed, bars_closed, quotes, caught_up_s (--restart-db: seconds from the
database's return to an empty spool), load_1m (the machine's load when it started).
--standby runs two `underdog-streamer` processes as hot standbys on one bridge (two
terminals, the same ticks) and kills one with SIGKILL halfway, after a run of one streamer
alone at the same rate; it reports lost, duplicates, extra, bars_agree, redis_moving and
the throughput of one and of two (`bench/stream_standby.py` says how each is counted).

Exit code 0 even when a target is missed: this measures, it does not test.

    .venv/bin/python bench/stream.py --rate 10000 --seconds 20 [--restart-db] [--hostile]
    .venv/bin/python bench/stream.py --standby --rate 10000 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import psycopg
import redis
import zmq

from underdog.config import load_settings
from underdog.store import migrate
from underdog.store.admin import create_database, drop_database
from underdog_streaming.config import StreamConfig
from underdog_streaming.protocols import Tick, mql5_request, parse_mql5
from underdog_streaming.streamer import Streamer

SYMBOLS = ("EURUSD", "GBPUSD")
OUTAGE_S = 5.0
NAIVE_TABLE = "bench_naive_ticks"


def say(message: str) -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: np.ndarray | list[float], q: float) -> float | None:
    values = np.asarray(values, dtype=np.float64)
    return round(float(np.percentile(values, q)), 2) if values.size else None


# --- a TCP proxy that can make PostgreSQL unreachable ------------------------------------------


def _proxy_main(listen_port: int, target: tuple[str, int], control: Connection) -> None:
    sel = selectors.DefaultSelector()
    peers: dict[socket.socket, socket.socket] = {}
    listener: socket.socket | None = None

    def listen() -> socket.socket:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", listen_port))
        s.listen(64)
        sel.register(s, selectors.EVENT_READ)
        return s

    def drop(s: socket.socket) -> None:
        for one in (s, peers.pop(s, None)):
            if one is not None:
                peers.pop(one, None)
                sel.unregister(one)
                one.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                one.close()  # linger 0: the other end sees a reset, as when a server dies

    listener = listen()
    control.send("ready")
    while True:
        if control.poll():
            command = control.recv()
            if command == "close" and listener is not None:
                sel.unregister(listener)
                listener.close()
                listener = None
                for s in list(peers):
                    if s in peers:
                        drop(s)
            elif command == "open" and listener is None:
                listener = listen()
            elif command == "stop":
                return
            control.send(command)
        for key, _ in sel.select(0.02):
            s = key.fileobj
            if s is listener:
                client, _ = listener.accept()
                upstream = socket.create_connection(target)
                for one in (client, upstream):
                    one.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                peers[client], peers[upstream] = upstream, client
                sel.register(client, selectors.EVENT_READ)
                sel.register(upstream, selectors.EVENT_READ)
            elif s in peers:
                try:
                    data = s.recv(1 << 16)
                    if data:
                        peers[s].sendall(data)
                        continue
                except OSError:
                    pass
                drop(s)


class Proxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.port = free_port()
        self._control, child = mp.Pipe()
        self._process = mp.get_context("spawn").Process(
            target=_proxy_main, args=(self.port, target, child), daemon=True)
        self._process.start()
        assert self._control.recv() == "ready"

    def command(self, what: str) -> None:
        self._control.send(what)
        assert self._control.recv() == what

    def stop(self) -> None:
        self._control.send("stop")
        self._process.join(5)


# --- the bridge process ----------------------------------------------------------------------


class BridgeProcess:
    """`underdog-streamer fake-bridge` in a process of its own; its JSON lines read here."""

    def __init__(self, *, rate: float, seconds: float, protocol: str, hostile: int = 0) -> None:
        self.ports = {name: free_port() for name in ("sys", "data", "live", "pub", "push")}
        command = [sys.executable, "-m", "underdog_streaming", "fake-bridge",
                   "--protocol", protocol, "--rate", str(rate), "--seconds", str(seconds),
                   "--symbols", ",".join(SYMBOLS), "--hostile", str(hostile)]
        for name, port in self.ports.items():
            command += [f"--{name}-port", str(port)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        self.done = threading.Event()
        self.result: dict = {}
        assert "listening" in json.loads(self.process.stdout.readline())
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            message = json.loads(line)
            if message.get("done"):
                self.result = message
                self.done.set()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(10)


# --- the run ---------------------------------------------------------------------------------


@contextmanager
def throwaway(server_dsn: str) -> Iterator[tuple[str, str]]:
    pid = os.getpid()
    params = psycopg.conninfo.conninfo_to_dict(server_dsn)
    params["dbname"] = f"underdog_bench_stream_{pid}"
    dsn = psycopg.conninfo.make_conninfo(**params)
    prefix = f"underdog_bench_stream_{pid}"
    create_database(dsn)
    try:
        migrate.upgrade(dsn)
        yield dsn, prefix
    finally:
        drop_database(dsn)


def via(dsn: str, port: int) -> str:
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    params.update(host="127.0.0.1", port=str(port))
    return psycopg.conninfo.make_conninfo(**params)


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM := VmRSS


def rss_mb(field: str = "VmRSS") -> float:
    """VmRSS (resident now) or VmHWM (peak since the last reset) of this process, MiB."""
    status = Path("/proc/self/status").read_text()
    return round(int(status.split(f"{field}:", 1)[1].split()[0]) / 1024, 1)


def wait_until(condition, timeout_s: float, step_s: float = 0.05) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(step_s)
    return condition()


def stream_run(args: argparse.Namespace, dsn: str, prefix: str, redis_url: str,
               spool: Path) -> dict:
    proxy, caught_up_s = None, None
    if args.restart_db:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
        proxy = Proxy((params.get("host") or "127.0.0.1", int(params.get("port") or 5432)))
    bridge = BridgeProcess(rate=args.rate, seconds=args.seconds, protocol=args.protocol,
                           hostile=args.hostile)
    config = StreamConfig(
        database_url=via(dsn, proxy.port) if proxy else dsn, redis_url=redis_url,
        symbols=SYMBOLS, protocol=args.protocol, sys_port=bridge.ports["sys"],
        data_port=bridge.ports["data"], live_port=bridge.ports["live"],
        pub_port=bridge.ports["pub"], push_port=bridge.ports["push"], redis_prefix=prefix,
        spool_dir=spool, record_latencies=True,
    )
    rss_start = rss_mb()
    reset_peak_rss()
    streamer = Streamer(config).start()
    try:
        if proxy:
            time.sleep(min(5.0, args.seconds / 4))
            say(f"closing the database proxy for {OUTAGE_S:.0f} s")
            proxy.command("close")
            time.sleep(OUTAGE_S)
            proxy.command("open")
            opened = time.monotonic()
            say("database reachable again")
            wait_until(lambda: streamer.stats.db_up and not streamer.spool.pending, 120)
            caught_up_s = round(time.monotonic() - opened, 2)
            say(f"spool replayed, caught up {caught_up_s} s after the database came back")
        if not bridge.done.wait(args.seconds + 60):
            raise RuntimeError("the bridge did not finish sending")
        sent = bridge.result["sent"]
        frames = sent + bridge.result.get("hostile", 0)
        wait_until(lambda: streamer.stats.ticks_received >= frames, 60)
        stats = streamer.stats
        wait_until(lambda: not streamer.spool.pending and streamer.batcher.pending() == 0
                   and stats.written + stats.late >= stats.ticks_accepted, 120)
    finally:
        summary = streamer.stop()
        bridge.stop()
        if proxy:
            proxy.stop()
    return {"sent": bridge.result.get("sent", 0), "hostile": bridge.result.get("hostile", 0),
            "summary": summary, "latencies": streamer.stats.latencies,
            "caught_up_s": caught_up_s, "rss_start_mb": rss_start, "peak_rss_mb": rss_mb("VmHWM")}


def naive_run(args: argparse.Namespace, dsn: str) -> dict:
    """The baseline: receive, INSERT, commit, one tick at a time, in one thread."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        # The ticks table as the seed designed it: floats and a timestamp per value.
        conn.execute(f"CREATE TABLE {NAIVE_TABLE} (symbol text NOT NULL, time timestamptz NOT"
                     " NULL, seq bigint NOT NULL, bid float8 NOT NULL, ask float8 NOT NULL,"
                     " bid_volume float8, ask_volume float8, available_at timestamptz NOT"
                     " NULL, PRIMARY KEY (symbol, time, seq))")
    bridge = BridgeProcess(rate=args.rate, seconds=args.naive_seconds, protocol="mql5")
    context = zmq.Context()
    control = context.socket(zmq.REQ)
    control.connect(f"tcp://127.0.0.1:{bridge.ports['sys']}")
    data = context.socket(zmq.PULL)
    data.connect(f"tcp://127.0.0.1:{bridge.ports['data']}")
    live = context.socket(zmq.PULL)
    live.connect(f"tcp://127.0.0.1:{bridge.ports['live']}")
    for symbol in SYMBOLS:
        control.send_json(mql5_request("CONFIG", symbol=symbol, chartTF="TICK"))
        control.recv()
        data.recv()
    insert = (f"INSERT INTO {NAIVE_TABLE} (symbol, time, seq, bid, ask, available_at)"
              " VALUES (%s, to_timestamp(%s / 1e6), %s, %s, %s, now())"
              " ON CONFLICT DO NOTHING")
    lat_ms, inserted, seq = [], 0, 0
    started = time.monotonic()
    deadline = started + args.naive_seconds + 2.0  # what is not in by then is lost
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if not live.poll(100):
                continue
            tick = parse_mql5(live.recv())
            if not isinstance(tick, Tick):
                continue
            seq += 1
            conn.execute(insert, (tick.symbol, tick.time_us, seq, tick.bid, tick.ask))
            inserted += 1
            lat_ms.append((time.time_ns() // 1000 - tick.time_us) / 1000)
    elapsed = time.monotonic() - started
    bridge.done.wait(5)
    bridge.stop()
    context.destroy(linger=0)
    sent = bridge.result.get("sent", inserted)
    return {"naive_rate": round(inserted / elapsed), "naive_db_p99_ms": pct(lat_ms, 99),
            "naive_lost": sent - inserted, "naive_sent": sent}


def run(args: argparse.Namespace) -> dict:
    settings = load_settings()
    load_1m = round(os.getloadavg()[0], 2)
    spool = Path(tempfile.mkdtemp(prefix="underdog_bench_spool_"))
    with throwaway(settings.dsn) as (dsn, prefix):
        try:
            if args.standby:
                from stream_standby import standby_run  # bench/: the script's own directory

                return standby_run(args, dsn, prefix, settings.redis_url.get_secret_value(),
                                   spool)
            say(f"streaming {args.rate:.0f} ticks/s for {args.seconds:.0f} s ({args.protocol})")
            out = stream_run(args, dsn, prefix, settings.redis_url.get_secret_value(), spool)
            with psycopg.connect(dsn) as conn:
                stored = conn.execute("SELECT count(*) FROM underdog.ticks").fetchone()[0]
            result = summarize(args, out, stored, load_1m)
            if args.naive_seconds > 0:
                say(f"baseline: one INSERT + commit per tick, {args.naive_seconds:.0f} s")
                result.update(naive_run(args, dsn))
        finally:
            client = redis.Redis.from_url(settings.redis_url.get_secret_value())
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            if keys:
                client.delete(*keys)
            shutil.rmtree(spool, ignore_errors=True)
    return result


def summarize(args: argparse.Namespace, out: dict, stored: int, load_1m: float) -> dict:
    lat = out["latencies"]
    summary = out["summary"]
    bridge_db = ((np.concatenate(lat.commit_ns) // 1000 - np.concatenate(lat.event_us)) / 1000
                 if lat.event_us else np.empty(0))
    bridge_lag = bridge_db - lat.db() if bridge_db.size else bridge_db  # receipt - tick time
    return {
        "rate": args.rate, "seconds": args.seconds, "protocol": args.protocol,
        "restart_db": args.restart_db, "sent": out["sent"], "stored": stored,
        "lost": out["sent"] - stored,
        "redis_p50_ms": pct(lat.redis_ms, 50), "redis_p99_ms": pct(lat.redis_ms, 99),
        "db_p50_ms": pct(lat.db(), 50), "db_p99_ms": pct(lat.db(), 99),
        "bridge_db_p99_ms": pct(bridge_db, 99), "bridge_lag_p99_ms": pct(bridge_lag, 99),
        "spooled": summary["spooled"], "replayed": summary["replayed"],
        "hostile": out["hostile"], "rejected": summary["rejected"],
        "malformed": summary["malformed"], "feed_drops": summary["feed_drops"],
        "rss_start_mb": out["rss_start_mb"], "peak_rss_mb": out["peak_rss_mb"],
        "bars_closed": summary["bars_closed"],
        "quotes": summary["quotes"], "caught_up_s": out["caught_up_s"], "load_1m": load_1m,
        "cores": os.cpu_count(),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--protocol", choices=("mql5", "dwx"), default="mql5")
    parser.add_argument("--restart-db", action="store_true")
    parser.add_argument("--hostile", type=int, nargs="?", const=10_000, default=0,
                        help="hostile frames among the ticks (default with the flag: 10000)")
    parser.add_argument("--standby", action="store_true",
                        help="hot standbys, one SIGKILLed halfway (bench/stream_standby.py)")
    parser.add_argument("--naive-seconds", type=float, default=10,
                        help="baseline duration (0: skip the baseline)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    result = run(parse_args(argv))
    for key, value in result.items():
        say(f"  {key:>18}: {value}")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

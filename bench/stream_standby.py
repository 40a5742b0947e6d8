"""`bench/stream.py --standby`: hot standby streamers, one of them killed with SIGKILL.

Two runs at the same `--rate` for the same `--seconds`, on one fake bridge (in this process,
recording every tick it sends) and the throwaway database of `bench/stream.py`:
  one   one `underdog-streamer run` process alone
  two   two processes as hot standbys, each on its own terminal of the bridge (the same
        ticks on two live ports), the first killed with SIGKILL halfway through
Each ends when every sent tick is in `ticks` (or after a minute), then the survivors get
SIGTERM.

Reported for the run with two (plus `one_*` / `two_*` throughputs):
  lost          ticks the bridge sent that are not in `ticks` (compared tick by tick:
                symbol, time, bid, ask)
  duplicates    rows of `ticks` beyond its distinct (symbol, time, seq) keys
  extra         rows that match no sent tick (a tick stored twice under two keys)
  unique_key    the unique index `ticks` is idempotent on
  bars_agree    every `ohlcv` row equals `bars_from_ticks` over the stored ticks
  redis_moving  the latest quotes in Redis moved on after the kill, and never went back
  *_tps         distinct ticks stored / seconds from the first tick to the last stored
  *_cpu_s       CPU seconds of each streamer process (user + system)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.streaming's checks

from tests.streaming.standby_checks import (  # noqa: E402
    QuoteSampler,
    bar_mismatches,
    stored_ticks,
    unique_keys,
)
from underdog_streaming.fake_bridge import BridgePorts, FakeBridge  # noqa: E402

SYMBOLS = ("EURUSD", "GBPUSD")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports() -> BridgePorts:
    return BridgePorts(*(free_port() for _ in range(5)))


def query(dsn: str, sql: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def as_url(dsn: str) -> str:
    """A libpq key=value string as the postgresql:// URL the settings take."""
    p = psycopg.conninfo.conninfo_to_dict(dsn)
    auth = p.get("user", "postgres") + (f":{p['password']}" if p.get("password") else "")
    return f"postgresql://{auth}@{p.get('host', '127.0.0.1')}:{p.get('port', 5432)}/{p['dbname']}"


def start_streamer(dsn: str, prefix: str, redis_url: str, ports: BridgePorts, spool: Path,
                   streamer_id: str) -> subprocess.Popen:
    spool.mkdir(parents=True, exist_ok=True)
    log = (spool / f"{streamer_id}.log").open("w")  # read when it fails
    env = {**os.environ, "UNDERDOG_DATABASE_URL": as_url(dsn), "UNDERDOG_REDIS_URL": redis_url,
           "UNDERDOG_REDIS_PREFIX": prefix, "UNDERDOG_SYMBOLS": ",".join(SYMBOLS)}
    return subprocess.Popen(
        [sys.executable, "-m", "underdog_streaming", "run", "--protocol", "mql5",
         "--sys-port", str(ports.sys), "--data-port", str(ports.data),
         "--live-port", str(ports.live), "--metrics-port", str(free_port()),
         "--spool-dir", str(spool), "--streamer-id", streamer_id, "--log-level", "WARNING"],
        env=env, stderr=log)


def bars_agree(dsn: str) -> bool:
    return not bar_mismatches(dsn, SYMBOLS)


def one_run(args, dsn: str, prefix: str, redis_url: str, spool: Path, *, streamers: int,
            kill: bool) -> dict:
    ports = [free_ports() for _ in range(streamers)]
    bridge = FakeBridge(ports=ports[0], terminals=tuple(ports[1:]), rate=args.rate,
                        seconds=args.seconds, symbols=SYMBOLS, all_peers=True,
                        record=True).start()
    procs = [start_streamer(dsn, prefix, redis_url, p, spool, f"s{i}")
             for i, p in enumerate(ports)]
    sampler = QuoteSampler(redis_url, prefix, SYMBOLS)
    cpu: dict[int, float] = {}
    killed_at = None
    try:
        end = time.monotonic() + 120
        while not bridge.streaming.wait(0.2):
            failed = [p for p in procs if p.poll() is not None]
            if failed or time.monotonic() > end:
                logs = "".join(f.read_text()[-2000:] for f in spool.glob("*.log"))
                raise RuntimeError(f"the streamers never connected:\n{logs}")
        started = time.monotonic()
        sampler.start()
        if kill:
            time.sleep(args.seconds / 2)
            cpu[0] = cpu_s(procs[0].pid)
            procs[0].kill()  # SIGKILL: its batch in flight dies with it
            procs[0].wait(10)
            killed_at = time.monotonic()
        bridge.done.wait(args.seconds * 4 + 60)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if query(dsn, "SELECT count(*) FROM underdog.ticks")[0][0] >= bridge.sent:
                break
            time.sleep(0.05)
        stored_at = time.monotonic()
        for i, proc in enumerate(procs):
            if proc.poll() is None:
                cpu[i] = cpu_s(proc.pid)
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
    finally:
        sampler.stop.set()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        bridge.stop()
    sent = Counter((s, t, round(b, 6), round(a, 6)) for s, t, b, a in bridge.sent_ticks)
    stored = stored_ticks(dsn)
    rows, keys = query(dsn, "SELECT count(*), count(DISTINCT (symbol, time, seq))"
                            " FROM underdog.ticks")[0]
    return {
        "sent": bridge.sent, "stored": rows, "lost": sum((sent - stored).values()),
        "extra": sum((stored - sent).values()), "duplicates": rows - keys,
        "tps": round(keys / (stored_at - started), 1), "caught_up_s":
        round(stored_at - started - args.seconds, 2),
        "cpu_s": [round(cpu[i], 2) for i in sorted(cpu)],
        "kill_at_s": round(killed_at - started, 2) if killed_at else None,
        "redis_moving": not sampler.stalls(killed_at) if killed_at else None,
    }


def clear(dsn: str, redis_url: str, prefix: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("TRUNCATE underdog.ticks, underdog.ohlcv, underdog.quotes,"
                     " underdog.dead_letters")
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


def standby_run(args, dsn: str, prefix: str, redis_url: str, spool: Path) -> dict:
    load_1m = round(os.getloadavg()[0], 2)
    print(f"one streamer: {args.rate:.0f} ticks/s for {args.seconds:.0f} s", flush=True)
    one = one_run(args, dsn, prefix, redis_url, spool / "one", streamers=1, kill=False)
    clear(dsn, redis_url, prefix)
    print(f"two hot standbys, one killed at {args.seconds / 2:.0f} s", flush=True)
    two = one_run(args, dsn, prefix, redis_url, spool / "two", streamers=2, kill=True)
    return {
        "mode": "standby", "rate": args.rate, "seconds": args.seconds, "sent": two["sent"],
        "stored": two["stored"], "lost": two["lost"], "duplicates": two["duplicates"],
        "extra": two["extra"], "unique_key": (unique_keys(dsn) or [None])[0],
        "bars_agree": bars_agree(dsn),
        "redis_moving": two["redis_moving"], "kill_at_s": two["kill_at_s"],
        "one_tps": one["tps"], "two_tps": two["tps"], "one_lost": one["lost"],
        "one_caught_up_s": one["caught_up_s"], "two_caught_up_s": two["caught_up_s"],
        "one_cpu_s": one["cpu_s"], "two_cpu_s": two["cpu_s"], "load_1m": load_1m,
        "load_1m_end": round(os.getloadavg()[0], 2), "cores": os.cpu_count(),
    }

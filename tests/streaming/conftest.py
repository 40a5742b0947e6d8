"""Fixtures of the streaming tests: free ports, a fake bridge, a streamer, private servers.

`private_redis` and `private_postgres` are servers of the test's own (a redis-server process;
a PostgreSQL cluster made with initdb), so a test can really stop and start them without
touching the machine's shared servers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REDIS_URL, RedisTarget, key_safe
from tests.helpers import free_port
from underdog_streaming.config import StreamConfig
from underdog_streaming.fake_bridge import BridgePorts, FakeBridge
from underdog_streaming.streamer import Streamer

SYMBOLS = ("EURUSD", "GBPUSD")
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_ports() -> BridgePorts:
    return BridgePorts(*(free_port() for _ in range(5)))


def wait_until(condition: Callable[[], bool], timeout_s: float = 15.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def count(dsn: str, query: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchone()[0]


@pytest.fixture
def prefix(redis_prefix: str, redis_target: RedisTarget,
           request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"{redis_prefix}:{key_safe(request.node.name)}"
    yield name
    redis_target.delete_keys(name)


def stream_config(dsn: str, prefix: str, ports: BridgePorts, spool: Path,
                  **overrides: object) -> StreamConfig:
    settings: dict[str, object] = dict(
        database_url=dsn, redis_url=REDIS_URL, symbols=SYMBOLS, redis_prefix=prefix,
        sys_port=ports.sys, data_port=ports.data, live_port=ports.live, pub_port=ports.pub,
        push_port=ports.push, spool_dir=spool, record_latencies=True, heartbeat_s=0.2,
    )
    settings.update(overrides)
    return StreamConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture
def bridge_and_streamer(tmp_path: Path, prefix: str, redis_target: RedisTarget):
    """Make a started (bridge, streamer) pair; both are stopped at the end of the test."""
    made: list[tuple[FakeBridge, Streamer]] = []

    def make(dsn: str, *, protocol: str = "mql5", rate: float = 300.0, seconds: float = 2.0,
             bridge_options: dict | None = None, **config: object):
        ports = free_ports()
        bridge = FakeBridge(protocol=protocol, ports=ports, rate=rate, seconds=seconds,
                            symbols=SYMBOLS, **(bridge_options or {})).start()
        config = {"redis_url": redis_target.url, "redis_cluster": redis_target.cluster, **config}
        streamer = Streamer(stream_config(dsn, prefix, ports, tmp_path / "spool",
                                          protocol=protocol, **config)).start()
        made.append((bridge, streamer))
        return bridge, streamer

    yield make
    for bridge, streamer in made:
        if streamer._threads["receive"].is_alive():
            streamer.stop()
        bridge.stop()


# --- the real command in a subprocess --------------------------------------------------------


def streamer_command() -> list[str]:
    """The console script if installed, else the same `main()` through `python -m`."""
    script = Path(sys.executable).with_name("underdog-streamer")
    if script.exists():
        return [str(script)]
    found = shutil.which("underdog-streamer")
    return [found] if found else [sys.executable, "-m", "underdog_streaming"]


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        text = response.read().decode()
    return {sample.name + (json.dumps(sample.labels, sort_keys=True) if sample.labels else ""):
            sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


class StreamerProcess:
    """`underdog-streamer run` (mql5, default options) against `ports`, metrics on a free port."""

    def __init__(self, dsn: str, prefix: str, ports: BridgePorts, spool: Path,
                 *options: str) -> None:
        self.metrics_port = free_port()
        env = {**os.environ, "UNDERDOG_DATABASE_URL": dsn, "UNDERDOG_REDIS_URL": REDIS_URL,
               "UNDERDOG_REDIS_PREFIX": prefix, "UNDERDOG_SYMBOLS": ",".join(SYMBOLS)}
        self.proc = subprocess.Popen(
            [*streamer_command(), "run", "--protocol", "mql5", "--sys-port", str(ports.sys),
             "--data-port", str(ports.data), "--live-port", str(ports.live),
             "--metrics-port", str(self.metrics_port), "--spool-dir", str(spool), *options],
            env=env, stderr=subprocess.PIPE, text=True)
        self.stderr = ""

    def metric(self, name: str) -> float:
        """`underdog_stream_<name>` now (0 while the endpoint is not up)."""
        try:
            return scrape(self.metrics_port).get(f"underdog_stream_{name}", 0)
        except OSError:
            return 0

    def memory_kb(self, field: str) -> int:
        """VmRSS (resident now) or VmHWM (its peak) from /proc, in kB."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(status.split(f"{field}:", 1)[1].split()[0])

    def reset_peak(self) -> None:
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS

    def stop(self) -> dict:
        """SIGTERM (flush, exit 0): the final counters it logged."""
        self.proc.send_signal(signal.SIGTERM)
        _, self.stderr = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, self.stderr
        return json.loads(self.stderr.rsplit("stopped: ", 1)[1].splitlines()[0])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


# --- servers of the test's own ---------------------------------------------------------------


def _start_redis(port: int) -> subprocess.Popen:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    assert wait_until(lambda: _pings(url), 10), "private redis-server did not start"
    return proc


def _pings(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.2).ping())
    except redis.RedisError:
        return False


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = _start_redis(self.port)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)

    def start(self) -> None:
        self.proc = _start_redis(self.port)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    yield server
    if server.proc.poll() is None:
        server.stop()


class PrivatePostgres:
    """A PostgreSQL cluster in a temporary directory, on a free port, run as `postgres`."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="underdog_pg_"))
        self.port = free_port()
        shutil.chown(self.dir, "postgres")
        self._run(PG_BIN / "initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U",
                  "postgres", "--no-sync", "-E", "UTF8")
        self.server = f"postgresql://postgres@127.0.0.1:{self.port}"
        self.start()

    def _run(self, *command: object) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *map(str, command)], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
                   " -c fsync=off -c full_page_writes=off")
        self._run(PG_BIN / "pg_ctl", "-D", self.dir / "data", "-o", options, "-l",
                  self.dir / "log", "-w", "start")

    def stop(self) -> None:
        self._run(PG_BIN / "pg_ctl", "-D", self.dir / "data", "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"PostgreSQL server binaries not found in {PG_BIN}")
    cluster = PrivatePostgres()
    yield cluster
    cluster.destroy()

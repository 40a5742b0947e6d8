"""A real three-master Redis Cluster on spare local ports, for the tests that run on both a
single Redis and a cluster (the `redis_target` fixture in tests/conftest.py).

Each node is `redis-server --cluster-enabled yes` in a temporary directory (no persistence);
`redis-cli --cluster create` assigns the 16384 slots over the three, no replicas. `stop` ends
the processes and removes the directory.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

MASTERS = 3
BUS_OFFSET = 10_000  # a node's cluster bus listens on its port + 10000


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_ports(n: int) -> list[int]:
    """n ports whose cluster-bus ports (+10000) are free as well."""
    ports: list[int] = []
    while len(ports) < n:
        port = random.randint(20_000, 55_000)
        if port not in ports and _free(port) and _free(port + BUS_OFFSET):
            ports.append(port)
    return ports


class RedisClusterServer:
    def __init__(self) -> None:
        for binary in ("redis-server", "redis-cli"):
            if shutil.which(binary) is None:
                raise RuntimeError(f"{binary} is not installed")
        self.dir = Path(tempfile.mkdtemp(prefix="underdog_redis_cluster_"))
        self.ports = cluster_ports(MASTERS)
        self.url = f"redis://127.0.0.1:{self.ports[0]}/0"
        self.procs = [self._node(port) for port in self.ports]
        try:
            for port in self.ports:
                _wait(lambda p=port: _pings(p), f"redis-server on {port} did not start")
            subprocess.run(["redis-cli", "--cluster", "create",
                            *(f"127.0.0.1:{p}" for p in self.ports),
                            "--cluster-replicas", "0", "--cluster-yes"],
                           check=True, capture_output=True, timeout=30)
            _wait(lambda: all(_cluster_ok(p) for p in self.ports), "the cluster is not ok")
        except BaseException:
            self.stop()
            raise

    def _node(self, port: int) -> subprocess.Popen:
        return subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
             "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
             "--dir", str(self.dir), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL)

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def _pings(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_timeout=0.2).ping())
    except redis.RedisError:
        return False


def _cluster_ok(port: int) -> bool:
    """The node sees every slot served (what `cluster_state:ok` means)."""
    info = redis.Redis(port=port, socket_timeout=0.5, decode_responses=True).cluster("info")
    return info.get("cluster_state") == "ok"


def _wait(condition, message: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise RuntimeError(message)

"""Celery workers on this machine, each as its own host, and a Dagster instance they share.

Each worker is `underdog workers start`'s command line (underdog_cli/workers.py) in its own
process group; as root, also in its own UTS namespace (`unshare --uts`) with its own host
name, so `socket.gethostname()` differs as on two machines. The instance is the project's
dagster.yaml (PostgreSQL storage from DAGSTER_PG_URL) in a throwaway DAGSTER_HOME. Used by
tests/scale and bench/scale.py; every process is killed and waited for on the way out.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from tests.helpers import delete_keys
from underdog_cli.workers import worker_argv

REPO = Path(__file__).resolve().parents[2]
POOLS = ("timescale_write", "market_feed")  # the pools of the backfilled assets


@dataclass
class Worker:
    name: str  # celery's NAME@HOST
    process: subprocess.Popen
    log: Path

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the worker's whole group (its pool's children too), and wait for it."""
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


@dataclass
class Cluster:
    env: dict[str, str]
    home: Path
    workers: list[Worker] = field(default_factory=list)

    def start_worker(self, host: str, *, concurrency: int = 1) -> Worker:
        name = f"underdog@{host}"
        argv = worker_argv(name=name, queues=["io", "cpu", "dagster"], concurrency=concurrency)
        if os.geteuid() == 0 and shutil.which("unshare"):
            # Its own host name: what socket.gethostname() and the event log show.
            argv = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', host, *argv]
        log = self.home / f"{host}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(argv, env=self.env, cwd=REPO, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        worker = Worker(name, process, log)
        self.workers.append(worker)
        return worker

    def wait_ready(self, timeout_s: float = 60) -> None:
        """Until every worker has said it is ready (its consumer is up) in its log."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for w in self.workers:
                if w.process.poll() is not None:
                    raise RuntimeError(f"{w.name} exited: {w.log.read_text()[-2000:]}")
            if all(f"{w.name} ready." in w.log.read_text() for w in self.workers):
                return
            time.sleep(0.2)
        raise TimeoutError(f"workers not ready: {[w.name for w in self.workers]}")

    def stop(self) -> None:
        for worker in self.workers:
            worker.kill(signal.SIGTERM if worker.process.poll() is None else signal.SIGKILL)


def cluster_env(*, dsn: str, dagster_dsn: str, redis_url: str, prefix: str, home: Path,
                extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the runs' process and of every worker: the same settings."""
    env = dict(os.environ)
    env.update({
        "UNDERDOG_DATABASE_URL": dsn, "UNDERDOG_REDIS_URL": redis_url,
        "UNDERDOG_REDIS_PREFIX": prefix, "UNDERDOG_EXECUTOR": "celery",
        "DAGSTER_HOME": str(home),
        # psycopg2, as the Makefile's: dagster-postgres's NOTIFY is not psycopg 3 SQL.
        "DAGSTER_PG_URL": dagster_dsn.replace("postgresql://", "postgresql+psycopg2://", 1),
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra or {})
    return env


@contextmanager
def local_cluster(home: Path, env: dict[str, str], *, hosts: tuple[str, ...],
                  pool_limit: int) -> Iterator[tuple[Cluster, dg.DagsterInstance]]:
    """Workers on `hosts` and the instance they share, set up from `env` (this process's
    environment is set to it for the duration: the runs are launched from here)."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    saved = dict(os.environ)
    os.environ.update(env)
    cluster = Cluster(env, home)
    try:
        with dg.DagsterInstance.get() as instance:
            # Pools: as many slots as workers (dagster.yaml's default is 1 per pool), as
            # `dagster instance concurrency set POOL N` does on a deployment.
            for pool in POOLS:
                instance.event_log_storage.set_concurrency_slots(pool, pool_limit)
            for host in hosts:
                cluster.start_worker(host)
            cluster.wait_ready()
            yield cluster, instance
    finally:
        cluster.stop()
        os.environ.clear()
        os.environ.update(saved)
        # The queues, results and the cache of the run: all under its prefix.
        delete_keys(env["UNDERDOG_REDIS_URL"], env["UNDERDOG_REDIS_PREFIX"])


def steps_by_worker(instance: dg.DagsterInstance, run_ids: list[str]) -> list[tuple[str, str]]:
    """(step key, Celery worker) for each time a worker began a step, from the event logs:
    dagster-celery's "Executing steps ... in celery worker" engine event names the worker."""
    out = []
    for run_id in run_ids:
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
            data = record.dagster_event.engine_event_data
            worker = data.metadata.get("Celery worker") if data else None
            if worker is not None:
                out.append((record.step_key, worker.value))
    return out

"""A PostgreSQL primary and its streaming standby, of the tests' own, in a temporary directory.

`initdb` with wal_level=replica, `pg_basebackup -R` (the standby's primary_conninfo and
standby.signal) into a second directory, `pg_ctl start` both on spare ports. Every step is
bounded in time; `stop` ends both servers (immediate shutdown) and removes the directory.
Run as root, the servers run as `postgres` (initdb refuses root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import free_port

STEP_TIMEOUT_S = 60  # each command; pg_ctl waits at most PG_CTL_WAIT_S of that
PG_CTL_WAIT_S = 30


def pg_bin() -> Path | None:
    """The server binaries: $PGBIN, else the newest /usr/lib/postgresql/N/bin, else PATH."""
    candidates = [os.environ.get("PGBIN", ""),
                  *sorted(Path("/usr/lib/postgresql").glob("[0-9]*/bin"),
                          key=lambda b: int(b.parent.name), reverse=True)]
    for folder in filter(None, map(str, candidates)):
        if (Path(folder) / "pg_basebackup").exists() and (Path(folder) / "initdb").exists():
            return Path(folder)
    found = shutil.which("pg_basebackup")
    return Path(found).parent if found and shutil.which("initdb") else None


@dataclass
class ReplicaPair:
    """Primary and standby on 127.0.0.1; `dsn(port, db, user)` names a database on either."""

    bin: Path
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="underdog-replica-")))
    primary_port: int = field(default_factory=free_port)
    standby_port: int = field(default_factory=free_port)
    started: list[Path] = field(default_factory=list)

    @property
    def as_owner(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_owner, str(self.bin / tool), *args], check=True,
                       capture_output=True, timeout=STEP_TIMEOUT_S)

    def dsn(self, port: int, dbname: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{port}/{dbname}"

    def start(self, *, preload: str = "") -> ReplicaPair:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        primary, standby = self.root / "primary", self.root / "standby"
        self.run("initdb", "-D", str(primary), "-U", "postgres", "-A", "trust", "--no-sync")
        with (primary / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.primary_port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.root}'\nwal_level = replica\n"
                       "max_wal_senders = 4\nfsync = off\nhot_standby = on\n"
                       "hot_standby_feedback = on\n"
                       + (f"shared_preload_libraries = '{preload}'\n" if preload else ""))
        with (primary / "pg_hba.conf").open("a") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        self._pg_ctl(primary, "start")
        self.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port), "-U",
                 "postgres", "-D", str(standby), "-R", "-X", "stream", "-c", "fast")
        with (standby / "postgresql.conf").open("a") as conf:  # the last setting wins
            conf.write(f"port = {self.standby_port}\n")
        self._pg_ctl(standby, "start")
        return self

    def _pg_ctl(self, data: Path, action: str) -> None:
        self.run("pg_ctl", "-D", str(data), "-l", str(self.root / f"{data.name}.log"), "-w",
                 "-t", str(PG_CTL_WAIT_S), action)
        if action == "start":
            self.started.append(data)

    def stop(self) -> None:
        """Both servers down (standby first), the directory gone, whatever failed before."""
        for data in reversed(self.started):
            try:
                self.run("pg_ctl", "-D", str(data), "-m", "immediate", "-w",
                         "-t", str(PG_CTL_WAIT_S), "stop")
            except subprocess.SubprocessError:
                pid_file = data / "postmaster.pid"
                if pid_file.exists():  # pg_ctl could not: end that postmaster by its pid
                    os.kill(int(pid_file.read_text().split()[0]), 9)
        self.started.clear()
        shutil.rmtree(self.root, ignore_errors=True)

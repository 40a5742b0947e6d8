"""One streamer per spool directory: an exclusive lock held for the streamer's life.

Two streamers appending to one spool would interleave their records in the same segment
and acknowledge each other's (shards and hot standbys each need a `--streamer-id`, which
gives each its own `<spool_dir>/<id>`). The lock is `flock` on `<spool>/.lock`: the kernel
drops it when the process dies, SIGKILL included, so a restart never finds a stale one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class SpoolInUse(RuntimeError):
    """Another streamer holds this spool directory."""


class SpoolClaim:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / ".lock"
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 32, 0).decode(errors="replace").strip() or "?"
            self.release()
            raise SpoolInUse(
                f"spool {directory} is in use by another streamer (pid {holder}); give each "
                "streamer its own --streamer-id (or --spool-dir)") from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, str(os.getpid()).encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

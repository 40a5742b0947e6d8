"""A streaming replica's lag behind the primary, and the guard of reads that must be fresh.

Lag is measured in WAL first: the primary's current LSN (`pg_current_wal_lsn()`) against what
the standby has received and replayed (`pg_last_wal_receive_lsn()`, `pg_last_wal_replay_lsn()`).
Seconds are given only when bytes are behind, as the age of the standby's last replayed commit
(`pg_last_xact_replay_timestamp()`): on an idle primary that timestamp grows old while the
standby has everything, so it alone would call a caught-up standby late.

A fresh read (`Database.fresh_reader`) waits until the standby has replayed everything the
primary had when the read began, at most the allowed lag (UNDERDOG_REPLICA_MAX_LAG_S): a
standby that far behind is refused with `ReplicaLagError`, never read for a stale value.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

PRIMARY_LSN_SQL = "SELECT pg_current_wal_lsn()::text"

# NULLs when the server is not in recovery (not a standby). pg_is_wal_replay_paused() raises
# outside recovery: CASE keeps it from running there.
STANDBY_SQL = """
SELECT pg_is_in_recovery(),
       pg_wal_lsn_diff(%(target)s::pg_lsn, pg_last_wal_replay_lsn())::bigint,
       pg_wal_lsn_diff(%(target)s::pg_lsn, pg_last_wal_receive_lsn())::bigint,
       extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8,
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END
"""

POLL_S = 0.01  # between two looks at a standby catching up: one cheap statement each


@dataclass(frozen=True)
class ReplicaLag:
    """Where a reader's server stands against the primary's WAL position `target`."""

    standby: bool  # in recovery; False: the reader reads the primary itself, no lag
    target: str = ""  # the primary's LSN the standby was measured against
    replay_bytes: int = 0  # WAL not yet replayed (visible rows lag this much)
    receive_bytes: int | None = None  # WAL not yet received (None: no WAL receiver)
    last_replay_age_s: float | None = None  # since the last replayed commit (None: none yet)
    paused: bool = False  # replay paused (pg_wal_replay_pause): it will not catch up alone

    @property
    def behind(self) -> bool:
        return self.replay_bytes > 0

    @property
    def seconds(self) -> float:
        """0 when nothing is behind; else the age of the last replayed commit (an upper
        bound of how old the standby's view is); infinity when it never replayed one."""
        if not self.behind:
            return 0.0
        age = self.last_replay_age_s
        return float("inf") if age is None else max(age, 0.0)

    def describe(self) -> str:
        if not self.standby:
            return "not a standby (reads the primary)"
        if not self.behind:
            return "caught up"
        age = "unknown" if self.last_replay_age_s is None else f"{self.seconds:.1f} s"
        paused = ", replay paused" if self.paused else ""
        return f"{self.replay_bytes:,} bytes of WAL behind, last replayed commit {age} ago{paused}"


class ReplicaLagError(RuntimeError):
    """A fresh read refused: the standby is further behind than the allowed lag."""

    def __init__(self, lag: ReplicaLag, max_lag_s: float) -> None:
        self.lag = lag
        self.max_lag_s = max_lag_s
        super().__init__(
            f"the read replica (UNDERDOG_READER_DATABASE_URL) is {lag.describe()}, past"
            f" UNDERDOG_REPLICA_MAX_LAG_S={max_lag_s:g}: a fresh read refuses it rather than"
            " return a stale value")


def primary_lsn(conn: psycopg.Connection) -> str:
    """The primary's current WAL write position."""
    return str(conn.execute(PRIMARY_LSN_SQL).fetchone()[0])


def standby_lag(conn: psycopg.Connection, target: str) -> ReplicaLag:
    """How far the server of `conn` is behind the primary's LSN `target`."""
    standby, replay, receive, age, paused = conn.execute(
        STANDBY_SQL, {"target": target}).fetchone()
    if not standby:
        return ReplicaLag(False, target)
    return ReplicaLag(True, target, max(int(replay or 0), 0),
                      None if receive is None else max(int(receive), 0), age, bool(paused))


def catch_up(standby: psycopg.Connection, target: str, within_s: float) -> ReplicaLag:
    """The standby's lag behind the primary's LSN `target`, after waiting up to `within_s`
    for it to replay that far (not at all when replay is paused: it would not)."""
    deadline = time.monotonic() + within_s
    while True:
        lag = standby_lag(standby, target)
        if not lag.behind or lag.paused or time.monotonic() >= deadline:
            return lag
        time.sleep(POLL_S)


def require_fresh(standby: psycopg.Connection, target: str, max_lag_s: float) -> ReplicaLag:
    """The standby has replayed the primary's LSN `target` (waiting up to `max_lag_s`), or
    `ReplicaLagError` naming how far behind it is."""
    lag = catch_up(standby, target, max_lag_s)
    if lag.behind:
        raise ReplicaLagError(lag, max_lag_s)
    return lag

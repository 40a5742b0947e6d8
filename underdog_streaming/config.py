"""What one streamer needs to know: the bridge, the stores, and the knobs of the write path.

Broker server time: MetaTrader stamps ticks and bars with the trade server's clock, which is
UTC plus an offset the broker chooses (often +2, +3 in the northern summer). Set
`server_utc_offset_hours` (`--server-utc-offset-hours`, env
`UNDERDOG_MT5_SERVER_UTC_OFFSET_HOURS`) to it; the streamer subtracts it from MQL5-JSON-API
times. A wrong offset shows at once: ticks more than `max_future_s` ahead of the receipt clock,
or `max_age_s` behind it, are rejected with a reason that names the offset. DWX ticks carry no
time and are stamped on receipt (UTC), so the offset does not touch them. With a broker that
changes offset for daylight saving, update the setting at the change (a restart is enough).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from underdog.config import Settings
from underdog.reference import endpoints
from underdog.sources.mt5 import OFFSET_ENV  # noqa: F401 (the variable, named once)

Protocol = Literal["mql5", "dwx"]
STREAMER_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")  # a path part and a Redis key part


@dataclass
class StreamConfig:
    database_url: str
    redis_url: str
    symbols: tuple[str, ...]
    protocol: Protocol = "mql5"
    host: str = endpoints.MT5_HOST
    # MQL5-JSON-API ports (system REQ/REP, data PULL, live PULL) and DWX (PUB, command PULL).
    sys_port: int = endpoints.MT5_SYS_PORT
    data_port: int = endpoints.MT5_DATA_PORT
    live_port: int = endpoints.MT5_LIVE_PORT
    pub_port: int = endpoints.DWX_PUB_PORT
    push_port: int = endpoints.DWX_PUSH_PORT
    server_utc_offset_hours: float = 0.0
    redis_prefix: str = "underdog"
    cache_ttl_s: int = 3600
    redis_timeout_s: float = 0.25
    redis_cluster: bool = False  # redis_url is a node of a Redis Cluster
    spool_dir: Path = field(default_factory=lambda: Path("spool/stream"))
    metrics_port: int | None = None  # None: no endpoint; 0: any free port
    metrics_addr: str = "127.0.0.1"
    batch_ms: float = 25.0  # a micro-batch closes after this long ...
    batch_rows: int = 5000  # ... or this many ticks
    quote_interval_s: float = 1.0  # bid/ask polling into `quotes`, 1-5 s
    depth: bool = True  # ask the bridge for book depth (disabled if it answers that it can't)
    bridge_bars: bool = False  # also subscribe to the bridge's own M1 bars (counted only)
    bar_grace_s: float = 5.0  # a silent minute closes this long after its end
    # What "the clock" is for closing silent minutes: "wall" (now), or "ticks" (the newest
    # tick's time: a replay of history, whose minutes all ended long ago by the wall clock)
    clock: str = "wall"
    open_bar_every_s: float = 1.0  # how often the open minute's growing bar is upserted
    heartbeat_s: float = 1.0
    max_future_s: float = 120.0
    max_age_s: float = 3600.0
    # The live socket's bounds (see `subscriber`): a tick or bar frame is ~100-200 bytes.
    max_frame_bytes: int = 16_384  # ZMQ_MAXMSGSIZE: a larger frame costs the connection
    receive_hwm: int = 10_000  # ZMQ_RCVHWM, frames: the queue holds <= hwm x max_frame_bytes
    # Names this streamer beside others (symbol shards, hot standbys); "" is the only one.
    # Its per-process state is keyed by it: the spool directory (<spool_dir>/<id>), the
    # heartbeat key, the dead letters' payload.
    streamer_id: str = ""
    strict_writer: bool = False  # ticks through writers.upsert's validate() as well
    record_latencies: bool = False  # keep every latency in memory (bench, tests)

    def __post_init__(self) -> None:
        self.symbols = tuple(s.strip().upper() for s in self.symbols if s.strip())
        self.spool_dir = Path(self.spool_dir).expanduser()
        if self.streamer_id and not STREAMER_ID.fullmatch(self.streamer_id):
            raise ValueError(f"streamer_id must match {STREAMER_ID.pattern}, "
                             f"got {self.streamer_id!r}")
        if not self.symbols:
            raise ValueError("no symbols to stream")
        if self.protocol not in ("mql5", "dwx"):
            raise ValueError(f"protocol must be mql5 or dwx, got {self.protocol!r}")
        if self.max_frame_bytes < 1024 or self.receive_hwm < 1:
            raise ValueError("max_frame_bytes must be >= 1024 and receive_hwm >= 1")
        if self.clock not in ("wall", "ticks"):
            raise ValueError(f"clock must be wall or ticks, got {self.clock!r}")
        if not 1.0 <= self.quote_interval_s <= 5.0:
            raise ValueError("quote_interval_s must be between 1 and 5 seconds")

    @property
    def source(self) -> str:
        """The label of this stream in `ohlcv.source` and `dead_letters.source`."""
        return self.protocol

    @property
    def spool_path(self) -> Path:
        """This streamer's spool: `spool_dir`, or `spool_dir/<streamer_id>` beside others."""
        return self.spool_dir / self.streamer_id if self.streamer_id else self.spool_dir

    @property
    def offset_us(self) -> int:
        return round(self.server_utc_offset_hours * 3_600_000_000)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> StreamConfig:
        base: dict[str, object] = {
            "database_url": settings.dsn,
            "redis_url": settings.redis_url.get_secret_value(),
            "symbols": tuple(settings.symbols),
            "redis_prefix": settings.redis_prefix,
            "cache_ttl_s": settings.cache_ttl_s,
            "redis_timeout_s": settings.redis_timeout_s,
            "redis_cluster": settings.redis_cluster,
        }
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)  # type: ignore[arg-type]

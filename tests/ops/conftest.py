"""Fixtures of the operations tests: settings pointed at the test database and Redis prefix."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import REDIS_URL
from tests.helpers import delete_keys
from underdog.config import get_settings
from underdog.ops.logs import forget_secrets


@pytest.fixture
def ops_env(dsn: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """UNDERDOG_* for the test services (a Redis prefix of its own); yields that prefix."""
    prefix = f"{redis_prefix}_ops"
    monkeypatch.setenv("UNDERDOG_DATABASE_URL", dsn)
    monkeypatch.setenv("UNDERDOG_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("UNDERDOG_REDIS_PREFIX", prefix)
    monkeypatch.setenv("UNDERDOG_SYMBOLS", "EURUSD,GBPUSD")
    monkeypatch.setenv("UNDERDOG_FRED_SERIES", "VIXCLS,DFF")
    for name in ("UNDERDOG_FRESHNESS_MAX_LAG", "DAGSTER_HOME", "UNDERDOG_LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    forget_secrets()
    delete_keys(REDIS_URL, prefix)
    yield prefix
    delete_keys(REDIS_URL, prefix)
    get_settings.cache_clear()
    forget_secrets()


def _sample_names(family) -> set[str]:
    """The series names a family exposes (what PromQL can name)."""
    name = family.name
    if family.type == "counter":
        return {f"{name}_total", f"{name}_created"}
    if family.type == "histogram":
        return {name, f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
    return {name}


@pytest.fixture
def metric_catalog(ops_env: str, db) -> set[str]:
    """Every series name the project's code exposes: the exporter's two collectors (on a
    database and Redis with data, and a streamer heartbeat), the streamer's registry, the
    agent gauges, and Prometheus' own `up`."""
    from datetime import UTC, datetime

    import dagster as dg

    from tests.ops.stores import all_fresh
    from underdog.ops.metrics import AGENT_METRICS, StoreCollector
    from underdog.store.online.cache import LatestCache
    from underdog_cli.run_metrics import RunMetricsCollector
    from underdog_streaming.metrics import StreamMetrics

    now = datetime.now(UTC)
    all_fresh(db, now)
    cache = LatestCache.from_url(REDIS_URL, prefix=ops_env)
    cache.put("stream", "heartbeat", {"time": now, "running": True, "lag_s": 0.5,
                                      "msgs_per_s": 10.0, "protocol": "mql5"})
    cache.put("state", "EURUSD", {"time": now, "available_at": now, "close": 1.1})
    families = [*StoreCollector(get_settings()).collect(),
                *RunMetricsCollector(dg.DagsterInstance.ephemeral()).collect(),
                *StreamMetrics().registry.collect()]
    names = {n for f in families for n in _sample_names(f)}
    names |= {name for name, _ in AGENT_METRICS.values()} | {"up"}
    return names

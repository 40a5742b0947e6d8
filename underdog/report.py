"""What `underdog demo` prints after the runs: daily bars, cached values, state vectors."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from underdog.config import get_settings
from underdog.features.online import latest_state, update_online
from underdog.features.registry import FEATURE_NAMES
from underdog.store.cache import LatestCache
from underdog.store.db import Database
from underdog.store.readers import bars, latest


def print_demo(console: Console, runs) -> None:
    table = Table(title="Dagster runs (see them in `make ui`)")
    for column in ("job", "partition", "result", "checks"):
        table.add_column(column)
    for r in runs:
        passed = sum(r.checks.values())
        table.add_row(r.job, r.partition, "[green]success" if r.success else "[red]failed",
                      f"{passed}/{len(r.checks)} passed")
    console.print(table)
    settings = get_settings()
    with Database.from_settings(settings) as db:
        cache = LatestCache.from_url(
            settings.redis_url.get_secret_value(), prefix=settings.redis_prefix,
            ttl_s=settings.cache_ttl_s, loader=lambda k, s, src: latest(db, k, s, src),
        )
        console.print(_daily_bars(db, settings.symbols))
        for symbol in settings.symbols:
            cache.get("bar", symbol)  # a miss fills the cache, the next read hits
            bar = cache.get("bar", symbol)
            if bar:
                console.print(f"latest {symbol} bar (Redis): {bar['time']:%Y-%m-%d %H:%M} UTC"
                              f" close {bar['close']:.5f}")
        console.print(_state_vectors(db, cache, settings.symbols))
        console.print(f"cache: {dict(cache.stats)}")
        agent_runs = [r.run_id for r in runs if r.job == "agent_train"]
        if agent_runs:
            console.print(_evaluation(db, agent_runs[-1]))


def _daily_bars(db: Database, symbols: list[str]) -> Table:
    table = Table(title="ohlcv_1d, last days (UTC days; the weekend has no bars)")
    for column in ("day", "symbol", "open", "high", "low", "close", "ticks"):
        table.add_column(column, justify="left" if column in ("day", "symbol") else "right")
    for symbol in symbols:
        daily = bars(db, symbol, datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC), "1d")
        for day, row in daily.tail(4).iterrows():
            table.add_row(f"{day:%a %Y-%m-%d}", symbol, f"{row.open:.5f}", f"{row.high:.5f}",
                          f"{row.low:.5f}", f"{row.close:.5f}", f"{row.volume:,}")
    return table


def _state_vectors(db: Database, cache: LatestCache, symbols: list[str]) -> Table:
    """The latest vector per symbol, computed online and read back from Redis."""
    states = {}
    for symbol in symbols:
        update_online(db, cache, symbol)
        states[symbol] = latest_state(cache, symbol)
    table = Table(title="latest state vector (feature_version 1): online -> Redis")
    table.add_column("feature")
    for symbol, state in states.items():
        when = f"{state['time']:%m-%d %H:%M}" if state else "none"
        table.add_column(f"{symbol} @ {when}", justify="right")
    for name in FEATURE_NAMES:
        table.add_row(name, *(f"{s[name]:.6g}" if s else "-" for s in states.values()))
    return table


EVALUATION_METRICS = {"total_return": "return", "sharpe": "Sharpe", "max_drawdown": "max DD",
                      "trades": "trades", "win_rate": "win rate"}


def _evaluation(db: Database, run_id: str) -> Table:
    """The TD3 policies on their test windows against buy-and-hold and flat (`metrics`)."""
    with db.reader() as conn:
        rows = conn.execute("SELECT strategy, name, value FROM underdog.metrics"
                            " WHERE run_id = %s ORDER BY strategy", (run_id,)).fetchall()
    values: dict[str, dict[str, float]] = {}
    for strategy, name, value in rows:
        values.setdefault(strategy, {})[name] = value
    # Strategies are td3:<version> and td3:<version>/<baseline>; a version starts with the symbol.
    versions = sorted({s.split("/")[0].removeprefix("td3:") for s in values})
    table = Table(title="TD3 on its test window, after costs (td3_evaluation -> metrics)",
                  caption=f"policies: {', '.join(versions)}")
    table.add_column("symbol, strategy")
    for label in EVALUATION_METRICS.values():
        table.add_column(label, justify="right")
    for strategy, metrics in values.items():
        policy, _, baseline = strategy.partition("/")
        symbol = policy.removeprefix("td3:").split("-")[0]
        table.add_row(f"{symbol} {baseline or 'td3'}", *(
            f"{metrics.get(n, float('nan')):.4g}" for n in EVALUATION_METRICS))
    return table

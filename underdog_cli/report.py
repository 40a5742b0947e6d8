"""What `underdog demo` prints after the runs: daily bars, cached values, state vectors."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from underdog.config import get_settings
from underdog.features.online import latest_state, update_online
from underdog.features.registry import FEATURE_NAMES, FEATURE_VERSION
from underdog.features.state_vector import training_frame
from underdog.ops.cadences import AGENT_TRAIN
from underdog.reference.schema import BAR
from underdog.sources.simulated import MODEST_EDGE
from underdog.store.db import Database
from underdog.store.offline.ledger import run_metrics
from underdog.store.offline.readers import bars, latest
from underdog.store.offline.vectors import stored_vector
from underdog.store.online.cache import LatestCache


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
        agent_runs = [r for r in runs if r.job == AGENT_TRAIN.job]
        if agent_runs:
            console.print(_evaluation(db, agent_runs[-1].run_id))
            if agent_runs[-1].evaluation:
                console.print(_sharpe_table(agent_runs[-1].evaluation, settings.symbols,
                                           settings.market.simulator.edge))


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
    """The latest vector per symbol, computed online and read back from Redis, next to the
    offline vector of the same bar (state_vectors): parity shown, not only tested."""
    states = {}
    for symbol in symbols:
        update_online(db, cache, symbol)
        states[symbol] = latest_state(cache, symbol)
    table = Table(title="latest state vector (feature_version 1): online (Redis) | offline "
                        "(state_vectors), same bar")
    table.add_column("feature")
    offline = {}
    for symbol, state in states.items():
        when = f"{state['time']:%m-%d %H:%M}" if state else "none"
        offline[symbol] = _offline_vector(db, symbol, state["time"]) if state else None
        table.add_column(f"{symbol} online @ {when}", justify="right")
        table.add_column("offline", justify="right")
    for name in FEATURE_NAMES:
        cells = []
        for symbol, s in states.items():
            off = offline[symbol]
            cells += [f"{s[name]:.6g}" if s else "-", f"{off[name]:.6g}" if off else "-"]
        table.add_row(name, *cells)
    gaps = []
    for symbol, s in states.items():
        off = offline[symbol]
        gap = max(abs(float(s[n]) - off[n]) for n in FEATURE_NAMES) if s and off else None
        gaps += ["max |online - offline|", f"{gap:.1e}" if gap is not None else "-"]
    table.add_row("", *gaps)
    return table


def _offline_vector(db: Database, symbol: str, time: datetime) -> dict[str, float] | None:
    """The stored offline row of the bar, else the offline builder's row for it (a bar the
    live stream just wrote has no stored row yet)."""
    row = stored_vector(db, symbol, time, FEATURE_NAMES, FEATURE_VERSION)
    if row:
        return dict(zip(FEATURE_NAMES, map(float, row), strict=True))
    frame = training_frame(db, symbol, time, time + BAR)
    return {n: float(frame.iloc[0][n]) for n in FEATURE_NAMES} if len(frame) else None


def _edge_caption(edge: float) -> str:
    """What the demo's market is, said where its Sharpes are read: a loud edge on a window of
    under a day annualizes to hundreds; a desk-sized edge needs simulated years."""
    if edge <= 0:
        return ("The demo's market has no planted edge (UNDERDOG_SIMULATOR_EDGE=0): the plain "
                "random walk, where TD3 is not expected to beat flat.")
    return (f"The demo's market has a planted edge of strength {edge:g} "
            f"(UNDERDOG_SIMULATOR_EDGE) so that a minute of training shows learning; "
            f"annualized over a test window of under a day, a loud edge's Sharpes run to the "
            f"hundreds. A desk-sized edge ({MODEST_EDGE.strength:g}: an oracle's Sharpe of a few a "
            f"year) is measured over simulated years by bench/learn.py (README, 'Does the agent "
            f"learn?').")


EVALUATION_METRICS = {"total_return": "return", "sharpe": "Sharpe", "max_drawdown": "max DD",
                      "trades": "trades", "win_rate": "win rate"}


def _evaluation(db: Database, run_id: str) -> Table:
    """The TD3 policies on their test windows against buy-and-hold and flat (`metrics`)."""
    values: dict[str, dict[str, float]] = {}
    for strategy, name, value in run_metrics(db, run_id):
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


def _sharpe_table(evaluation: dict, symbols: list[str], edge: float) -> Table:
    """Per symbol, TD3 against flat, buy-and-hold and the oracle: the Sharpe over the test
    windows (pooled over folds) with its 95 % interval and the windows it covers."""
    table = Table(title="Does it learn? Test-window Sharpe after costs, annualized, "
                        "[95 % interval] (td3_evaluation)", caption=_edge_caption(edge))
    for column in ("symbol", "strategy", r"Sharpe \[interval] over trading days",
                   "test windows (UTC)"):
        table.add_column(column)
    for symbol in symbols:
        pooled = evaluation.get(f"pooled_sharpe_{symbol}") or {}
        windows = "; ".join(f"{a} .. {b}" for a, b in
                            evaluation.get(f"test_windows_{symbol}") or [])
        for strategy in ("td3", "flat", "buy_and_hold", "ma_crossover", "oracle"):
            if strategy in pooled:
                table.add_row(symbol, strategy, pooled[strategy],
                              windows if strategy == "td3" else "")
    return table

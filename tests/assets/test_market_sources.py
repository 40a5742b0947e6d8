"""Market backfill by source: the `ticks` + `ohlcv` assets end to end on the real services,
with Dukascopy served by a local HTTP server, MT5 wiring, and the `market backfill` CLI.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.helpers import table_checksum
from tests.sources.bi5_feed import Feed, bi5, bomb, closed_port, hour_files, path, serve_feed
from underdog.config import ConfigError, get_settings, load_settings
from underdog.market.backfill import SourceOptions, SourceUnavailable, backfill
from underdog.market.simulated import simulate_bars
from underdog.sources.dukascopy import DukascopyUnavailable
from underdog.sources.simulated import simulate_ticks
from underdog.store.db import Database
from underdog.store.offline.readers import bars as read_bars
from underdog_assets.definitions import defs
from underdog_assets.defs.common.partitions import DAILY, WEEKLY_BATCHES
from underdog_cli.app import app

TUESDAY = datetime(2024, 3, 5, tzinfo=UTC)
FRIDAY = datetime(2024, 3, 8, tzinfo=UTC)  # Fri (closes 22:00), Sat (closed), Sun (opens 22:00)
SEED = 7
BAR_FIELDS = ["open", "high", "low", "close", "volume", "spread"]


@pytest.fixture
def feed() -> Iterator[Feed]:
    with serve_feed() as served:
        yield served


@pytest.fixture
def dukascopy_env(dagster_env: None, feed: Feed, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Feed:
    """Definitions loaded after this read the Dukascopy source from the local feed."""
    monkeypatch.setenv("UNDERDOG_MARKET_SOURCE", "dukascopy")
    monkeypatch.setenv("UNDERDOG_DUKASCOPY_BASE_URL", feed.base_url)
    monkeypatch.setenv("UNDERDOG_DUKASCOPY_CACHE_DIR", str(tmp_path / "bi5"))
    monkeypatch.setenv("UNDERDOG_SYMBOLS", "EURUSD")
    monkeypatch.setenv("UNDERDOG_SIMULATOR_SEED", str(SEED))
    return feed


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    """The CLI reads `get_settings()` (cached): make it see this test's environment."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run_market(first: str, last: str | None = None,
               selection: list[str] | None = None) -> dg.ExecuteInProcessResult:
    """The `market_daily` job over the partitions first..last, as a UI backfill runs it."""
    job = defs().resolve_job_def("market_daily")
    tags = {"dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last or first}
    keys = [dg.AssetKey(k) for k in selection] if selection else None
    return job.execute_in_process(tags=tags, asset_selection=keys,
                                  instance=dg.DagsterInstance.ephemeral())


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, object]:
    events = [e for e in result.get_asset_materialization_events()
              if e.asset_key == dg.AssetKey(asset)]
    assert events, f"{asset} was not materialized"
    return {k: v.value for k, v in events[0].materialization.metadata.items()}


def checks(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], bool]:
    return {(e.asset_key.to_user_string(), e.check_name): e.passed
            for e in result.get_asset_check_evaluations()}


def stored_ticks(db: Database, symbol: str = "EURUSD") -> pd.DataFrame:
    with db.connection() as conn:
        rows = conn.execute(
            "SELECT time, bid, ask, bid_volume, ask_volume, seq, available_at"
            " FROM underdog.tick_values WHERE symbol = %s ORDER BY time, seq", (symbol,)
        ).fetchall()
    frame = pd.DataFrame(rows, columns=["time", "bid", "ask", "bid_volume", "ask_volume",
                                        "seq", "available_at"])
    for column in ("time", "available_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[ns, UTC]")
    return frame


def dead_letter_rows(db: Database) -> list[tuple[str, str, str, dict]]:
    with db.connection() as conn:
        return conn.execute("SELECT source, target_table, reason, payload"
                            " FROM underdog.dead_letters ORDER BY id").fetchall()


def serve_simulated(feed: Feed, start: datetime, end: datetime,
                    symbol: str = "EURUSD") -> pd.DataFrame:
    """Serve the simulated market's ticks as .bi5 hours; the closed hours are 404s."""
    sim = simulate_ticks(symbol, start, end, seed=SEED)
    feed.serve_all(hour_files(symbol, sim))
    return sim


def assert_bars_match_simulation(db: Database, start: datetime, end: datetime) -> None:
    stored = read_bars(db, "EURUSD", start, end)[BAR_FIELDS].reset_index()
    expected = simulate_bars("EURUSD", start, end, seed=SEED)[["time", *BAR_FIELDS]]
    stored["time"] = stored["time"].astype("datetime64[ns, UTC]")
    pd.testing.assert_frame_equal(stored, expected, check_dtype=False)


def lzma_truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


# ---------------------------------------------------------------- definitions


def test_ticks_feed_ohlcv_and_the_source_comes_from_the_environment(
    dukascopy_env: Feed,
) -> None:
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    assert graph.get(dg.AssetKey("ohlcv")).parent_keys == {dg.AssetKey("ticks")}
    assert graph.get(dg.AssetKey("ohlcv_1h")).parent_keys == {dg.AssetKey("ohlcv")}
    node = graph.get(dg.AssetKey("ticks"))
    assert node.group_name == "market" and node.description and node.owners
    assert node.partitions_def == DAILY and node.backfill_policy == WEEKLY_BATCHES
    spec = definitions.resolve_assets_def("ticks").specs_by_key[dg.AssetKey("ticks")]
    assert "timescale" in spec.kinds
    tick_checks = {k.name for k in graph.asset_check_keys if k.asset_key == dg.AssetKey("ticks")}
    assert tick_checks == {"no_crossed_quotes", "no_duplicate_keys"}
    market = definitions.resources["market"]
    assert (market.source, market.dukascopy_base_url) == ("dukascopy", dukascopy_env.base_url)
    assert market.symbols == ["EURUSD"]


def test_the_source_defaults_to_simulated_and_rejects_unknown_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("UNDERDOG_MARKET_SOURCE", raising=False)
    assert load_settings().market.source == "simulated"
    monkeypatch.setenv("UNDERDOG_MARKET_SOURCE", "bloomberg")
    with pytest.raises(ConfigError, match="UNDERDOG_MARKET_SOURCE"):
        load_settings()


# ---------------------------------------------------------------- Dukascopy end to end


def test_a_three_day_dukascopy_range_materializes_ticks_and_bars(
    dukascopy_env: Feed, db: Database, tmp_path: Path,
) -> None:
    feed = dukascopy_env
    end = FRIDAY + timedelta(days=3)
    sim = serve_simulated(feed, FRIDAY, end)
    hiccup = path("EURUSD", FRIDAY + timedelta(hours=9))
    feed.serve(hiccup, 503, hour_files("EURUSD", sim)[hiccup])  # retried, then loads

    result = run_market("2024-03-08", "2024-03-10")

    assert result.success
    assert checks(result) == {
        ("ticks", "no_crossed_quotes"): True, ("ticks", "no_duplicate_keys"): True,
        ("ohlcv", "no_gaps_in_trading_hours"): True, ("ohlcv", "ohlc_consistent"): True,
        ("ohlcv", "no_duplicate_keys"): True,
    }
    stored = stored_ticks(db)
    pd.testing.assert_frame_equal(stored[sim.columns], sim)
    assert (stored["available_at"] == stored["time"]).all()
    assert_bars_match_simulation(db, FRIDAY, end)
    ticks_meta, bars_meta = metadata(result, "ticks"), metadata(result, "ohlcv")
    assert ticks_meta["source"] == bars_meta["source"] == "dukascopy"
    assert ticks_meta["rows_written"] == len(sim) and ticks_meta["failed_hours"] == 0
    assert (ticks_meta["window_start"], ticks_meta["window_end"]) == (
        "2024-03-08T00:00:00+00:00", "2024-03-11T00:00:00+00:00")
    assert ticks_meta["first_tick"] == str(sim["time"].iloc[0])
    assert "EURUSD" in ticks_meta["preview"]
    assert bars_meta["rows_written"] == 22 * 60 + 2 * 60  # Friday to 22:00, Sunday from 22:00
    assert feed.hits(hiccup) == 2
    assert feed.hits(path("EURUSD", FRIDAY + timedelta(days=1, hours=12))) == 1  # a 404
    assert (tmp_path / "bi5" / hiccup).is_file()
    with db.connection() as conn:
        assert conn.execute("SELECT DISTINCT source FROM underdog.ohlcv").fetchall() == [
            ("dukascopy",)]


def test_a_corrupt_hour_is_dead_lettered_while_the_rest_of_the_day_loads(
    dukascopy_env: Feed, db: Database,
) -> None:
    feed = dukascopy_env
    sim = serve_simulated(feed, TUESDAY, TUESDAY + timedelta(days=1))
    bad = path("EURUSD", TUESDAY + timedelta(hours=10))
    feed.serve(bad, lzma_truncated(hour_files("EURUSD", sim)[bad]))

    result = run_market("2024-03-05")

    assert result.success
    hours = sim["time"].dt.hour
    stored = stored_ticks(db)
    pd.testing.assert_frame_equal(stored[sim.columns], sim[hours != 10].reset_index(drop=True))
    [(source, target, reason, payload)] = dead_letter_rows(db)
    assert (source, target) == ("dukascopy", "ticks")
    assert reason.startswith("corrupt hour: EURUSD 2024-03-05T10h: bad LZMA data")
    assert payload == {"symbol": "EURUSD", "hour": "2024-03-05T10:00:00+00:00",
                       "url": f"{feed.base_url}/{bad}", "error": payload["error"]}
    assert payload["error"] in reason
    ticks_meta = metadata(result, "ticks")
    assert ticks_meta["failed_hours"] == 1
    assert ticks_meta["failed_hour_list"][0].startswith("EURUSD 2024-03-05T10h: bad LZMA")
    gaps = {e.check_name: e for e in result.get_asset_check_evaluations()
            if e.asset_key == dg.AssetKey("ohlcv")}
    assert not gaps["no_gaps_in_trading_hours"].passed
    assert gaps["no_gaps_in_trading_hours"].metadata["largest_gap_minutes"].value == 60
    assert table_checksum(db, "ohlcv")[0] == 1440 - 60


def test_a_decompression_bomb_is_dead_lettered_while_the_rest_of_the_day_loads(
    dukascopy_env: Feed, db: Database,
) -> None:
    feed = dukascopy_env
    sim = serve_simulated(feed, TUESDAY, TUESDAY + timedelta(days=1))
    bad = path("EURUSD", TUESDAY + timedelta(hours=10))
    feed.serve(bad, bomb(100))  # ~15 KB -> 100 MB of valid-looking records

    result = run_market("2024-03-05")

    assert result.success
    hours = sim["time"].dt.hour
    pd.testing.assert_frame_equal(stored_ticks(db)[sim.columns],
                                  sim[hours != 10].reset_index(drop=True))
    [(source, target, reason, payload)] = dead_letter_rows(db)
    assert (source, target) == ("dukascopy", "ticks")
    assert reason.startswith("corrupt hour: EURUSD 2024-03-05T10h: ")
    assert "ceiling of an hour" in reason and payload["url"] == f"{feed.base_url}/{bad}"


def test_a_crossed_quote_fails_the_ticks_check(dukascopy_env: Feed, db: Database) -> None:
    hour = TUESDAY + timedelta(hours=14)
    dukascopy_env.serve(path("EURUSD", hour), bi5([(5, 108_512, 108_500, 1.0, 1.0),
                                                   (9, 108_490, 108_500, 1.0, 1.0)]))  # ask < bid
    result = run_market("2024-03-05")
    assert result.success
    [crossed] = [e for e in result.get_asset_check_evaluations()
                 if e.check_name == "no_crossed_quotes"]
    assert not crossed.passed and crossed.metadata["crossed"].value == 1
    assert checks(result)[("ticks", "no_duplicate_keys")]


def test_materializing_one_asset_of_the_pair_leaves_the_other_alone(
    dukascopy_env: Feed, db: Database,
) -> None:
    serve_simulated(dukascopy_env, TUESDAY, TUESDAY + timedelta(days=1))
    only_bars = run_market("2024-03-05", selection=["ohlcv"])
    assert only_bars.success
    assert set(checks(only_bars)) == {("ohlcv", "no_gaps_in_trading_hours"),
                                      ("ohlcv", "ohlc_consistent"), ("ohlcv", "no_duplicate_keys")}
    assert table_checksum(db, "ticks")[0] == 0
    bars_before = table_checksum(db, "ohlcv")
    assert bars_before[0] == 1440
    only_ticks = run_market("2024-03-05", selection=["ticks"])
    assert only_ticks.success and set(checks(only_ticks)) == {
        ("ticks", "no_crossed_quotes"), ("ticks", "no_duplicate_keys")}
    assert table_checksum(db, "ticks")[0] > 0
    assert table_checksum(db, "ohlcv") == bars_before


# ---------------------------------------------------------------- simulated source


def test_a_three_day_simulated_range_writes_ticks_and_their_bars(
    dagster_env: None, db: Database, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("UNDERDOG_MARKET_SOURCE", raising=False)
    monkeypatch.setenv("UNDERDOG_SYMBOLS", "EURUSD")
    monkeypatch.setenv("UNDERDOG_SIMULATOR_SEED", str(SEED))
    monday = datetime(2024, 3, 4, tzinfo=UTC)
    result = run_market("2024-03-04", "2024-03-06")
    assert result.success and all(checks(result).values()) and len(checks(result)) == 5
    sim = simulate_ticks("EURUSD", monday, monday + timedelta(days=3), seed=SEED)
    stored = stored_ticks(db)
    pd.testing.assert_frame_equal(stored[sim.columns], sim)
    assert_bars_match_simulation(db, monday, monday + timedelta(days=3))
    with db.connection() as conn:  # every tick is counted in exactly one bar's volume
        assert conn.execute("SELECT sum(volume) FROM underdog.ohlcv").fetchone()[0] == len(sim)
    assert metadata(result, "ticks")["source"] == "simulated"
    assert len([e for e in result.get_asset_materialization_events()
                if e.asset_key == dg.AssetKey("ticks")]) == 3  # one per partition


# ---------------------------------------------------------------- ingest


def test_a_simulated_backfill_generates_each_day_of_ticks_once(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bars are rolled from the ticks written, not from a second simulation."""
    from underdog.sources import simulated

    days: list[tuple[str, str]] = []
    real = simulated._simulate_day

    def counted(instrument, seed, day, *args, **kwargs):
        days.append((instrument.symbol, day.isoformat()))
        return real(instrument, seed, day, *args, **kwargs)

    monkeypatch.setattr(simulated, "_simulate_day", counted)
    run = backfill(db, ["EURUSD", "GBPUSD"], TUESDAY, TUESDAY + timedelta(days=1),
                   options=SourceOptions(seed=SEED))
    assert sorted(days) == [("EURUSD", "2024-03-05"), ("GBPUSD", "2024-03-05")]
    assert run.bars.written == 2 * 1440 and run.bars.written == len(run.bar_frame)
    assert run.bar_frame["volume"].sum() == run.ticks.written == len(run.tick_frame)


def _options(feed: Feed) -> SourceOptions:
    return SourceOptions(seed=SEED, dukascopy_base_url=feed.base_url)


def test_rerunning_a_dukascopy_window_gives_identical_tables(feed: Feed, db: Database) -> None:
    serve_simulated(feed, TUESDAY, TUESDAY + timedelta(hours=6))
    window = (TUESDAY, TUESDAY + timedelta(hours=6))
    first = backfill(db, ["EURUSD"], *window, source="dukascopy", options=_options(feed))
    before = [table_checksum(db, t) for t in ("ticks", "ohlcv")]
    second = backfill(db, ["EURUSD"], *window, source="dukascopy", options=_options(feed))
    assert [table_checksum(db, t) for t in ("ticks", "ohlcv")] == before
    assert second.ticks.deleted == first.ticks.written > 0
    assert second.bars.deleted == first.bars.written == 6 * 60


def test_ticks_sharing_a_millisecond_get_seq_in_file_order(feed: Feed, db: Database) -> None:
    hour = TUESDAY + timedelta(hours=14)
    feed.serve(path("EURUSD", hour), bi5([(5, 108_512, 108_500, 1.0, 1.0),
                                          (5, 108_513, 108_501, 1.0, 1.0),
                                          (5, 108_511, 108_499, 1.0, 1.0),
                                          (9, 108_514, 108_502, 1.0, 1.0)]))
    backfill(db, ["EURUSD"], hour, hour + timedelta(hours=1), source="dukascopy",
             options=_options(feed))
    stored = stored_ticks(db)
    assert list(stored["seq"]) == [0, 1, 2, 0]
    assert list(stored["bid"]) == [1.085, 1.08501, 1.08499, 1.08502]
    [bar] = read_bars(db, "EURUSD", hour, hour + timedelta(hours=1)).itertuples()
    assert (bar.open, bar.close, bar.low, bar.volume) == (1.085, 1.08502, 1.08499, 4)


def test_an_unreachable_feed_writes_nothing(db: Database) -> None:
    backfill(db, ["EURUSD"], TUESDAY, TUESDAY + timedelta(hours=1), options=SourceOptions())
    before = [table_checksum(db, t) for t in ("ticks", "ohlcv")]
    options = SourceOptions(dukascopy_base_url=f"http://127.0.0.1:{closed_port()}/datafeed",
                            dukascopy_tries=2, dukascopy_backoff_s=0.01)
    with pytest.raises(DukascopyUnavailable, match="after 2 attempt"):
        backfill(db, ["EURUSD"], TUESDAY, TUESDAY + timedelta(hours=1), source="dukascopy",
                 options=options)
    assert [table_checksum(db, t) for t in ("ticks", "ohlcv")] == before  # not wiped


def test_an_unknown_source_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="unknown market source 'bloomberg'"):
        backfill(db, ["EURUSD"], TUESDAY, TUESDAY + timedelta(hours=1), source="bloomberg")


# ---------------------------------------------------------------- MT5 wiring


def test_mt5_without_its_module_says_so(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "underdog.sources.mt5", None)  # as if not installed
    with pytest.raises(SourceUnavailable, match="mt5 source not available"):
        backfill(db, ["EURUSD"], TUESDAY, TUESDAY + timedelta(hours=1), source="mt5")


def test_mt5_history_goes_through_the_same_path(db: Database,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fetch_history(symbol: str, start: datetime, end: datetime, **bridge: object):
        calls.append((symbol, start, end, bridge))
        return simulate_ticks(symbol, start, end, seed=SEED)[["time", "bid", "ask"]]

    fake = types.ModuleType("underdog.sources.mt5")
    fake.fetch_history = fetch_history
    monkeypatch.setitem(sys.modules, "underdog.sources.mt5", fake)
    window = (TUESDAY, TUESDAY + timedelta(hours=2))
    options = SourceOptions(mt5_host="10.1.2.3", mt5_sys_port=25555, mt5_data_port=25556)
    run = backfill(db, ["EURUSD", "GBPUSD"], *window, source="mt5", options=options)
    assert [c[0] for c in calls] == ["EURUSD", "GBPUSD"]
    assert calls[0][1:] == (*window, {"host": "10.1.2.3", "data_port": 25556, "sys_port": 25555})
    assert run.ticks.written == len(run.tick_frame) > 0 and run.bars.written == 2 * 120
    stored = stored_ticks(db, "GBPUSD")
    assert stored["bid_volume"].isna().all() and stored["ask_volume"].isna().all()
    with db.connection() as conn:
        assert conn.execute("SELECT DISTINCT source FROM underdog.ohlcv").fetchall() == [("mt5",)]


# ---------------------------------------------------------------- CLI


def test_cli_backfill_from_dukascopy(feed: Feed, db: Database, dsn: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch,
                                     fresh_settings: None) -> None:
    sim = serve_simulated(feed, TUESDAY, TUESDAY + timedelta(days=1))
    bad = path("EURUSD", TUESDAY + timedelta(hours=3))
    feed.serve(bad, b"not a bi5 file")
    monkeypatch.setenv("UNDERDOG_DATABASE_URL", dsn)
    monkeypatch.setenv("UNDERDOG_DUKASCOPY_BASE_URL", feed.base_url)
    monkeypatch.setenv("UNDERDOG_DUKASCOPY_CACHE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["market", "backfill", "--source", "dukascopy", "--symbol",
                                      "eurusd", "--start", "2024-03-05", "--end", "2024-03-05"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    kept = int((sim["time"].dt.hour != 3).sum())
    assert f"1,380 bars and {kept:,} ticks written, 0 rejected to dead_letters, 1 failed hours" \
        in output
    assert "failed: EURUSD 2024-03-05T03h: bad LZMA data" in output
    assert table_checksum(db, "ticks")[0] == kept
    assert len(dead_letter_rows(db)) == 1


def test_cli_backfill_defaults_to_the_simulated_market(db: Database, dsn: str,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       fresh_settings: None) -> None:
    monkeypatch.setenv("UNDERDOG_DATABASE_URL", dsn)
    monkeypatch.setenv("UNDERDOG_SIMULATOR_SEED", str(SEED))
    monkeypatch.delenv("UNDERDOG_MARKET_SOURCE", raising=False)
    result = CliRunner().invoke(app, ["market", "backfill", "--symbol", "USDJPY",
                                      "--start", "2024-03-09", "--end", "2024-03-10"])
    assert result.exit_code == 0, result.output
    sunday = datetime(2024, 3, 10, tzinfo=UTC)
    ticks = len(simulate_ticks("USDJPY", sunday, sunday + timedelta(days=1), seed=SEED))
    assert f"120 bars and {ticks:,} ticks written" in " ".join(result.output.split())
    assert table_checksum(db, "ticks")[0] == ticks


@pytest.mark.parametrize(("args", "message"), [
    (["--source", "bloomberg"], "Invalid value for '--source': 'bloomberg'"),
    (["--source", "mt5"], "mt5 source not available"),
])
def test_cli_backfill_refuses_an_unusable_source(db: Database, dsn: str, args: list[str],
                                                 message: str, monkeypatch: pytest.MonkeyPatch,
                                                 fresh_settings: None) -> None:
    monkeypatch.setenv("UNDERDOG_DATABASE_URL", dsn)
    monkeypatch.setitem(sys.modules, "underdog.sources.mt5", None)
    result = CliRunner().invoke(app, ["market", "backfill", *args, "--symbol", "EURUSD",
                                      "--start", "2024-03-05", "--end", "2024-03-05"])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_cli_backfill_reaches_the_bridge_of_the_settings(db: Database, dsn: str,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         fresh_settings: None) -> None:
    """UNDERDOG_MT5_HOST/_SYS_PORT/_DATA_PORT (settings.market.mt5) name the bridge; a flag
    wins over its variable."""
    bridges = []

    def fetch_history(symbol: str, start: datetime, end: datetime, **bridge: object):
        bridges.append(bridge)
        return simulate_ticks(symbol, start, end, seed=SEED)[["time", "bid", "ask"]]

    fake = types.ModuleType("underdog.sources.mt5")
    fake.fetch_history = fetch_history
    monkeypatch.setitem(sys.modules, "underdog.sources.mt5", fake)
    monkeypatch.setenv("UNDERDOG_DATABASE_URL", dsn)
    monkeypatch.setenv("UNDERDOG_MT5_HOST", "10.1.2.3")
    monkeypatch.setenv("UNDERDOG_MT5_SYS_PORT", "25555")
    monkeypatch.setenv("UNDERDOG_MT5_DATA_PORT", "25556")
    result = CliRunner().invoke(app, ["market", "backfill", "--source", "mt5", "--symbol",
                                      "EURUSD", "--start", "2024-03-05", "--end", "2024-03-05",
                                      "--mt5-data-port", "25557"])
    assert result.exit_code == 0, result.output
    assert bridges == [{"host": "10.1.2.3", "sys_port": 25555, "data_port": 25557}]

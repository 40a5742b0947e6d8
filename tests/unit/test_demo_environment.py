"""`underdog demo` outside `make demo`: Dagster's storage URL derived from the store's DSN."""

from underdog_cli.demo import dagster_url


def test_dagster_storage_sits_beside_the_feature_store() -> None:
    assert dagster_url("postgresql://postgres:secret@db.example:5433/underdog?sslmode=require"
                       ) == ("postgresql+psycopg2://postgres:secret@db.example:5433/"
                             "underdog_dagster?sslmode=require")
    assert dagster_url("postgres://u@h/") == "postgresql+psycopg2://u@h/postgres_dagster"
    assert dagster_url("host=127.0.0.1 dbname=underdog") is None


def test_the_demo_market_has_the_strong_edge_unless_told(monkeypatch) -> None:
    from underdog.config import get_settings
    from underdog.sources.simulated import STRONG_EDGE
    from underdog_cli.demo import _environment

    for name in ("UNDERDOG_SIMULATOR_EDGE", "DAGSTER_HOME", "UNDERDOG_DATABASE_URL",
                 "UNDERDOG_REDIS_URL", "UNDERDOG_REDIS_PREFIX", "DAGSTER_PG_URL"):
        monkeypatch.setenv(name, "-")  # recorded, so what _environment sets is undone after
        monkeypatch.delenv(name)
    _environment()
    assert get_settings().market.simulator.edge == STRONG_EDGE.strength
    monkeypatch.setenv("UNDERDOG_SIMULATOR_EDGE", "0")
    _environment()
    assert get_settings().market.simulator.edge == 0.0
    get_settings.cache_clear()

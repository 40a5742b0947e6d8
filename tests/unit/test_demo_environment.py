"""`underdog demo` outside `make demo`: Dagster's storage URL derived from the store's DSN."""

from underdog.cli.demo import dagster_url


def test_dagster_storage_sits_beside_the_feature_store() -> None:
    assert dagster_url("postgresql://postgres:secret@db.example:5433/underdog?sslmode=require"
                       ) == ("postgresql+psycopg2://postgres:secret@db.example:5433/"
                             "underdog_dagster?sslmode=require")
    assert dagster_url("postgres://u@h/") == "postgresql+psycopg2://u@h/postgres_dagster"
    assert dagster_url("host=127.0.0.1 dbname=underdog") is None

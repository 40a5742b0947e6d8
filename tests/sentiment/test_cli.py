"""`underdog sentiment score` and `underdog sentiment fetch`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import REDIS_URL
from tests.helpers import cli_settings
from underdog.config import get_settings
from underdog.sentiment.scoring.loading import load_scorer
from underdog.store.db import Database
from underdog_cli.app import app


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, dsn: str, redis_prefix: str,
            model_dir: Path) -> Iterator[None]:
    with cli_settings(monkeypatch, dsn=dsn, redis_url=REDIS_URL, prefix=redis_prefix,
                      FINBERT_MODEL=str(model_dir), NEWSAPI_API_KEY=""):
        yield


def test_score_prints_score_confidence_label_and_model(cli_env: None, model_dir: Path) -> None:
    result = CliRunner().invoke(app, ["sentiment", "score", "Euro rallies", "Cable slumps"],
                                terminal_width=200)
    assert result.exit_code == 0, result.output
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in result.output.splitlines()
            if line.startswith("│")]
    first = rows[:next(i for i, r in enumerate(rows) if r[0].startswith("Cable"))]
    text, score, confidence, label, model = (" ".join(c for c in column if c)
                                              for column in zip(*first, strict=True))
    expected, _ = load_scorer(str(model_dir)).scorer.score(["Euro rallies", "Cable slumps"])
    assert text == "Euro rallies" and label == expected.label
    assert (score, confidence) == (repr(expected.sentiment), repr(expected.confidence))
    assert model.replace(" ", "") == expected.model.replace(" ", "")
    assert expected.model.startswith(f"{model_dir.name}@sha256:")


def test_score_without_the_model_warns_and_names_the_lexicon(
        cli_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("UNDERDOG_FINBERT_MODEL", str(tmp_path / "absent"))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["sentiment", "score", "Euro rallies"], terminal_width=200)
    assert result.exit_code == 0
    assert "lexicon fallback" in result.output and "lexicon-lm-v1" in result.output
    assert "│  0.25 │        0.5 │ positive │" in result.output  # as computed, every digit


def test_fetch_the_fixture_stores_and_scores_a_window(cli_env: None, db: Database) -> None:
    args = ["sentiment", "fetch", "--source", "fixture", "--since", "2024-03-09",
            "--until", "2024-03-10"]
    result = CliRunner().invoke(app, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "fixture: 9 fetched, 8 new, 1 duplicates" in result.output  # a repost
    with db.connection() as conn:
        assert conn.execute("SELECT count(*) FROM underdog.sentiment_scores").fetchone()[0] > 0
    again = CliRunner().invoke(app, args, terminal_width=200)
    assert "9 fetched, 0 new, 9 duplicates; 0 scores" in again.output


def test_fetch_a_source_without_credentials_says_so(cli_env: None) -> None:
    result = CliRunner().invoke(app, ["sentiment", "fetch", "--source", "newsapi"],
                                terminal_width=200)
    assert result.exit_code == 2 and "UNDERDOG_NEWSAPI_API_KEY is not set" in result.output

"""Which scorer is used: the model when it loads, else the lexicon with a loud warning."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from tests.sentiment.tiny_model import build
from underdog.sentiment.scoring.finbert import FinBertScorer
from underdog.sentiment.scoring.lexicon import LexiconScorer
from underdog.sentiment.scoring.loading import load_scorer


def test_a_loadable_model_is_used(model_dir: Path) -> None:
    loaded = load_scorer(str(model_dir))
    assert isinstance(loaded.scorer, FinBertScorer) and not loaded.is_fallback


def test_a_missing_folder_falls_back_to_the_lexicon_loudly(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="underdog.sentiment.scoring.loading"):
        loaded = load_scorer(str(tmp_path / "no-such-model"))
    assert isinstance(loaded.scorer, LexiconScorer)
    assert "no such folder" in loaded.fallback_reason
    [record] = caplog.records
    assert "SENTIMENT MODEL UNAVAILABLE" in record.message and "lexicon-lm-v1" in record.message
    assert loaded.scorer.score(["Euro rallies"])[0].model == "lexicon-lm-v1"


def test_an_unreachable_hub_falls_back_in_milliseconds(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    began = time.perf_counter()
    loaded = load_scorer("ProsusAI/finbert-not-cached-here")
    assert loaded.is_fallback and "hub is unreachable" in loaded.fallback_reason
    assert time.perf_counter() - began < 5


def test_a_model_without_sentiment_labels_falls_back(tmp_path: Path) -> None:
    folder = build(tmp_path / "labels", id2label={0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    loaded = load_scorer(str(folder))
    assert loaded.is_fallback and "positive" in loaded.fallback_reason
